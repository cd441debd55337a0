package config

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxBrandNameLen bounds RP_BRAND_NAME, in characters: it fits a phone's
// header.
const MaxBrandNameLen = 60

// MaxLogoBytes bounds RP_BRAND_LOGO: a logo is a few kilobytes; anything
// much larger is a mistake (a photo, the wrong file) that every page view
// would pay for.
const MaxLogoBytes = 256 << 10

// Logo is the RP_BRAND_LOGO file, read once at start and served by rp as it
// is.
type Logo struct {
	Path string // as configured, for messages
	Type string // Content-Type: image/svg+xml, image/png, image/jpeg, image/gif or image/webp
	Data []byte
}

// rasterTypes are the image types a logo may be besides SVG, as
// http.DetectContentType names them from the file's first bytes.
var rasterTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

// checkBrandName accepts a short, single-line name without control
// characters.
func checkBrandName(name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("must not be empty or blank (leave it unset for rp)")
	}
	if n := utf8.RuneCountInString(name); n > MaxBrandNameLen {
		return fmt.Errorf("is %d characters long; at most %d fit the pages' header", n, MaxBrandNameLen)
	}
	if !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return fmt.Errorf("%q must be one line of text without control characters", name)
	}
	return nil
}

// ReadLogo reads and checks a logo file: it must exist, be a regular file
// of at most MaxLogoBytes, and be a PNG, JPEG, GIF, WebP or SVG image, told
// by its content rather than its name. An SVG image must not carry script,
// event handlers, foreign objects, entity declarations or references to
// other files (see checkSVG); rp serves it with a sandboxing
// Content-Security-Policy as well.
func ReadLogo(path string) (Logo, error) {
	f, err := os.Open(path)
	if err != nil {
		return Logo{}, fmt.Errorf("cannot open the logo file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Logo{}, fmt.Errorf("cannot read the logo file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Logo{}, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxLogoBytes+1))
	if err != nil {
		return Logo{}, fmt.Errorf("cannot read the logo file: %w", err)
	}
	if len(data) > MaxLogoBytes {
		return Logo{}, fmt.Errorf("%s is larger than %d KiB; a logo should be a few KiB (an SVG, or a PNG of about 64 px high)", path, MaxLogoBytes>>10)
	}
	if len(data) == 0 {
		return Logo{}, fmt.Errorf("%s is empty", path)
	}
	sniffed, _, _ := strings.Cut(http.DetectContentType(data), ";")
	for _, t := range rasterTypes {
		if sniffed == t {
			return Logo{Path: path, Type: t, Data: data}, nil
		}
	}
	if looksLikeSVG(data) {
		if err := checkSVG(data); err != nil {
			return Logo{}, fmt.Errorf("%s is refused as a logo: %w", path, err)
		}
		return Logo{Path: path, Type: "image/svg+xml", Data: data}, nil
	}
	return Logo{}, fmt.Errorf("%s is not a PNG, JPEG, GIF, WebP or SVG image (its content looks like %s)", path, sniffed)
}

// looksLikeSVG reports whether data is text whose first element is svg.
func looksLikeSVG(data []byte) bool {
	if !utf8.Valid(data) {
		return false
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local == "svg"
		}
	}
}

// checkSVG refuses what would let an SVG logo act rather than show: script
// elements, on* event handler attributes, foreignObject (HTML inside),
// javascript: or external links and references, and DOCTYPE declarations
// (entities can hide all of the above, or expand without bound). A browser
// runs no script of an image shown by <img>, but a user can open the logo's
// URL directly, and then an SVG is a document of rp's origin: this check
// and the sandbox rp serves it with keep that from mattering.
func checkSVG(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("it is not well-formed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return errors.New("it has a <!DOCTYPE> or other declaration; save it without one")
		case xml.ProcInst:
			if t.Target != "xml" {
				return fmt.Errorf("it has a <?%s?> processing instruction", t.Target)
			}
		case xml.StartElement:
			switch strings.ToLower(t.Name.Local) {
			case "script", "foreignobject", "iframe", "embed", "object", "handler", "listener":
				return fmt.Errorf("it has a <%s> element; a logo must not carry script or embedded documents", t.Name.Local)
			}
			for _, a := range t.Attr {
				name := strings.ToLower(a.Name.Local)
				if strings.HasPrefix(name, "on") {
					return fmt.Errorf("its <%s> element has an event handler attribute %s", t.Name.Local, a.Name.Local)
				}
				if (name == "href" || name == "src") && !strings.HasPrefix(strings.TrimSpace(a.Value), "#") {
					return fmt.Errorf("its <%s> element refers to %q; a logo may only refer to its own parts (#id)", t.Name.Local, a.Value)
				}
				if strings.Contains(strings.ToLower(a.Value), "javascript:") {
					return fmt.Errorf("its <%s> element has javascript: in %s", t.Name.Local, a.Name.Local)
				}
			}
		}
	}
}
