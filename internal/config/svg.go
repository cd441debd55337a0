package config

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// Namespaces an SVG logo may use. Elements of any other namespace are
// refused, except inside <metadata> (editors such as Inkscape put RDF
// there, which browsers neither show nor run).
const (
	svgNS    = "http://www.w3.org/2000/svg"
	xmlNS    = "http://www.w3.org/XML/1998/namespace"
	xhtmlNS  = "http://www.w3.org/1999/xhtml"
	mathMLNS = "http://www.w3.org/1998/Math/MathML"
)

// svgElements are the drawing elements an SVG logo may hold: shapes, text,
// paint servers, clipping, masks and filters. Left out on purpose: script,
// foreignObject (HTML inside), a and image (links and other files),
// animate, set and the other animation elements (they can change any
// attribute, an href to javascript: included), and the font and cursor
// elements (other files).
var svgElements = map[string]bool{}

func init() {
	for _, e := range strings.Fields(`svg g defs symbol use title desc metadata switch
		path rect circle ellipse line polyline polygon text tspan textPath
		linearGradient radialGradient stop pattern clipPath mask marker style
		filter feBlend feColorMatrix feComponentTransfer feComposite feConvolveMatrix
		feDiffuseLighting feDisplacementMap feDistantLight feDropShadow feFlood
		feFuncA feFuncB feFuncG feFuncR feGaussianBlur feMerge feMergeNode feMorphology
		feOffset fePointLight feSpecularLighting feSpotLight feTile feTurbulence`) {
		svgElements[e] = true
	}
}

// checkSVG refuses what would let an SVG logo act rather than show. It is
// an allowlist: SVG drawing elements only (svgElements); no attribute that
// starts with "on" (event handlers); href only to a part of the same file
// (#id); no xml:base; no url(...) other than url(#id), no @import, no
// image-set() and no URL scheme anywhere in attribute values or style
// sheets, however spelled (whitespace, control characters and case are
// ignored; a style sheet is checked whole, its text joined across comments
// and CDATA, and holds no elements); and no DOCTYPE
// (entities can hide all of the above, or expand without bound). A browser
// runs nothing of an image shown by <img>, but a user can open the logo's
// URL directly, and then an SVG is a document of rp's origin: the sandbox
// rp serves it with is the guarantee, and this check keeps a logo that
// would need it out.
func checkSVG(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var stack []string // open elements' local names
	inMetadata := 0    // depth inside <metadata>
	// A <style> element's style sheet is its text joined together, as a
	// browser reads it: comments and processing instructions dropped, CDATA
	// opened, entities resolved (the decoder does the last two). It is
	// checked whole when the element ends, never piece by piece, since
	// u<!---->rl( is url( to the browser.
	var sheet strings.Builder
	inStyle := false
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
			name := t.Name.Local
			switch {
			case inStyle:
				return fmt.Errorf("its <style> element holds a <%s> element; a style sheet is text only", name)
			case inMetadata > 0:
				// RDF and the like: inert. Elements of the namespaces a
				// browser acts on (a script runs wherever it is) are not.
				if t.Name.Space == svgNS || t.Name.Space == xhtmlNS || t.Name.Space == mathMLNS || t.Name.Space == "" {
					return fmt.Errorf("it has a <%s> element inside <metadata>; metadata may hold RDF only", name)
				}
				inMetadata++
			case t.Name.Space != svgNS:
				return fmt.Errorf("it has a <%s> element outside the SVG namespace (%q); save it as plain SVG", name, t.Name.Space)
			case !svgElements[name]:
				return fmt.Errorf("it has a <%s> element; a logo may hold drawing elements only, no script, links, animation, embedded documents or other files", name)
			case name == "metadata":
				inMetadata = 1
			case name == "style":
				inStyle = true
				sheet.Reset()
			}
			stack = append(stack, name)
			if inMetadata > 1 {
				continue // metadata's contents are not rendered; their attributes do nothing
			}
			for _, a := range t.Attr {
				if err := checkSVGAttr(name, a); err != nil {
					return err
				}
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			if inMetadata > 0 {
				inMetadata--
			}
			if inStyle {
				inStyle = false
				if err := checkCSS(sheet.String()); err != nil {
					return fmt.Errorf("its <style> element %w", err)
				}
			}
		case xml.CharData:
			if inStyle {
				sheet.Write(t)
			}
		}
	}
}

func checkSVGAttr(elem string, a xml.Attr) error {
	name := strings.ToLower(a.Name.Local)
	switch {
	case strings.HasPrefix(name, "on"):
		return fmt.Errorf("its <%s> element has an event handler attribute %s", elem, a.Name.Local)
	case a.Name.Space == "xml" || a.Name.Space == xmlNS:
		if name == "base" {
			return fmt.Errorf("its <%s> element has xml:base; a logo may only refer to its own parts", elem)
		}
	}
	if name == "href" || name == "src" {
		if v := squash(a.Value); !strings.HasPrefix(v, "#") {
			return fmt.Errorf("its <%s> element refers to %q; a logo may only refer to its own parts (#id)", elem, a.Value)
		}
	}
	if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
		return nil // a namespace declaration names, it loads nothing
	}
	if err := checkCSS(a.Value); err != nil {
		return fmt.Errorf("its <%s> element's %s attribute %w", elem, a.Name.Local, err)
	}
	return nil
}

// checkCSS refuses a style sheet or attribute value that could load or run
// anything: url(...) other than url(#id), @import, the functions that take
// a URL as a string (image-set, image, src), URLs (a scheme and //, or a
// script scheme), spelled in any case and with any whitespace or control
// characters between; and any backslash, since CSS escapes (u\72l for url)
// can spell all of these. v must be whole: a style sheet's text joined
// together, not one piece of it.
func checkCSS(v string) error {
	if strings.Contains(v, `\`) {
		return errors.New("has a backslash (a CSS escape); a logo needs none")
	}
	s := squash(v)
	for i := 0; ; {
		j := strings.Index(s[i:], "url(")
		if j < 0 {
			break
		}
		i += j + len("url(")
		rest := strings.TrimLeft(s[i:], `"'`)
		if !strings.HasPrefix(rest, "#") {
			return errors.New("loads something with url(...); a logo may only use url(#id) of its own parts")
		}
	}
	// image-set(), image() and src() load a URL written as a plain string,
	// without url(); -webkit-image-set( contains image-set(.
	for _, bad := range []string{"@import", "image-set(", "image(", "src(", "://", "javascript:", "vbscript:", "data:", "expression(", "-moz-binding", "behavior:"} {
		if strings.Contains(s, bad) {
			return fmt.Errorf("has %q; a logo must not load or run anything", bad)
		}
	}
	return nil
}

// squash lower-cases v and drops whitespace and control characters, as
// browsers ignore them in URLs' schemes.
func squash(v string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, v)
}
