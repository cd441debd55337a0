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
// by its content rather than its name. An SVG image may hold only plain
// drawing elements, no script, animation, foreign content, declarations or
// references outside itself (see checkSVG); rp serves it with a sandboxing
// Content-Security-Policy as well.
func ReadLogo(path string) (Logo, error) {
	// Stat first: opening a FIFO or a device could block rp's start.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return Logo{}, fmt.Errorf("%s is not a regular file", path)
	}
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
