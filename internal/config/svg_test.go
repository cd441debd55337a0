package config

import (
	"strings"
	"testing"
)

const svgOpen = `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:h="http://www.w3.org/1999/xhtml" viewBox="0 0 32 32">`

// TestSVGLogoAllowlist: what an attacker (or a careless export) could put
// in an SVG logo to load or run something is refused, however spelled;
// what real editors write is accepted.
func TestSVGLogoAllowlist(t *testing.T) {
	refused := map[string]string{
		"script":                  `<script>alert(1)</script>`,
		"script, other case":      `<SCRIPT>alert(1)</SCRIPT>`,
		"set to javascript":       `<a xlink:href="#x"><set attributeName="href" to="java&#9;script:alert(1)"/></a>`,
		"animate to a phishing":   `<rect><animate attributeName="href" values="https://evil.example/phish"/></rect>`,
		"style @import":           `<style>@import url(https://evil.example/x.css);</style>`,
		"style font":              `<style>@font-face{src:url( "https://evil.example/f.woff" )}</style>`,
		"style url escaped":       `<style>.a{fill:u\rl(https://evil.example/)}</style>`,
		"style url hex escape":    `<style>.a{fill:u\72l(//evil.example/x)}</style>`,
		"attribute url escape":    `<rect fill="u\72l(//evil.example/x)"/>`,
		"absolute URL in a value": `<rect fill="https://evil.example/x"/>`,
		"style attribute url":     `<rect style="fill:url(https://evil.example/)"/>`,
		"filter url":              `<rect filter="URL( https://evil.example/f.svg#x)"/>`,
		"mask url":                `<rect mask="url('https://evil.example/m.svg#x')"/>`,
		"xhtml form":              `<h:form action="https://evil.example"><h:input type="password"/></h:form>`,
		"xhtml meta refresh":      `<h:meta http-equiv="refresh" content="0;url=https://evil.example/"/>`,
		"xml:base":                `<g xml:base="java&#10;script:alert(1)//"><use href="#x"/></g>`,
		"use of another file":     `<use href="https://evil.example/sprite.svg#x"/>`,
		"use with xlink, spaced":  `<use xlink:href=" java script:alert(1)"/>`,
		"namespaced handler":      `<rect xmlns:e="http://www.w3.org/2001/xml-events" e:onclick="x"/>`,
		"foreignObject":           `<foreignObject><h:p>hi</h:p></foreignObject>`,
		"image":                   `<image href="data:image/png;base64,AAAA"/>`,
		"data in an attribute":    `<rect fill="url(data:image/svg+xml,x)"/>`,
		"expression":              `<rect style="width:expression(alert(1))"/>`,
		"unknown namespace":       `<x:thing xmlns:x="urn:x"/>`,
		"script in metadata":      `<metadata><script>alert(1)</script></metadata>`,
		"xhtml in metadata":       `<metadata><h:script>alert(1)</h:script></metadata>`,
	}
	for name, body := range refused {
		if err := checkSVG([]byte(svgOpen + body + `</svg>`)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	accepted := map[string]string{
		"shapes and gradient": `<defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient></defs><rect width="32" height="32" rx="6" fill="url(#g)"/><path d="M8 8h16v16z" fill="#1d4ed8"/>`,
		"illustrator style":   `<defs><style>.cls-1{fill:#fff;}.cls-2{fill:url( '#g' );}</style></defs><title>Logo</title><circle class="cls-1" cx="16" cy="16" r="8"/>`,
		"symbol and use":      `<symbol id="s"><rect width="4" height="4"/></symbol><use href="#s" x="2"/><use xlink:href="#s" x="8"/>`,
		"text and filter":     `<filter id="f"><feGaussianBlur stdDeviation="1"/></filter><text x="4" y="20" filter="url(#f)">Example</text>`,
		"inkscape metadata": `<metadata><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:cc="http://creativecommons.org/ns#">` +
			`<cc:Work rdf:about="https://example.com/logo"/></rdf:RDF></metadata><g xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" inkscape:label="Layer 1"><rect width="2" height="2"/></g>`,
	}
	for name, body := range accepted {
		if err := checkSVG([]byte(svgOpen + body + `</svg>`)); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
	}
	// The message says what to do.
	err := checkSVG([]byte(svgOpen + `<animate/></svg>`))
	if err == nil || !strings.Contains(err.Error(), "drawing elements only") {
		t.Errorf("animate: %v", err)
	}
}

// TestSVGLogoStyleSheetIsCheckedWhole: a browser reads a <style> element's
// style sheet as its text joined together, comments dropped and CDATA
// opened, so a URL split across comments, CDATA sections, processing
// instructions or elements is still a URL. Each of these was accepted when
// the check saw one piece at a time.
func TestSVGLogoStyleSheetIsCheckedWhole(t *testing.T) {
	refused := map[string]string{
		"url split by a comment":                `<style>a{fill:u<!---->rl(//evil.example/x)}</style>`,
		"@import split by CDATA":                `<style>@im<![CDATA[port]]> "x.css";</style>`,
		"image-set split by a comment":          `<style>a{fill:image-<!-- -->set("//evil.example/x.png" 1x)}</style>`,
		"url across two CDATA sections":         `<style><![CDATA[a{fill:u]]><![CDATA[rl(//evil.example/x)}]]></style>`,
		"url across text and CDATA":             `<style>a{fill:ur<![CDATA[l(//evil.example/x)}]]></style>`,
		"@import split many times":              `<style>@i<!--a-->m<![CDATA[po]]><!--b-->rt "x.css";</style>`,
		"url split by an entity and a comment":  `<style>a{fill:&#117;<!---->rl(//evil.example/x)}</style>`,
		"url split by a processing instruction": `<style>a{fill:u<?xml version="1.0"?>rl(//evil.example/x)}</style>`,
		"url split by an element":               `<style>a{fill:u<g/>rl(//evil.example/x)}</style>`,
		"an element inside a style sheet":       `<style>a{fill:red}<g><rect/></g></style>`,
		// image-set() and its kin load a URL given as a string, no url() needed.
		"image-set":                      `<style>a{fill:image-set("//evil.example/x.png" 1x)}</style>`,
		"-webkit-image-set in attribute": `<rect style="fill:-webkit-image-set('x.png' 1x)"/>`,
		"image()":                        `<style>a{fill:image("//evil.example/x.png")}</style>`,
		"src()":                          `<style>@font-face{src:src("//evil.example/f.woff")}</style>`,
	}
	for name, body := range refused {
		if err := checkSVG([]byte(svgOpen + body + `</svg>`)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	accepted := map[string]string{
		"CDATA and comments around a style sheet": `<style><!-- from the editor --><![CDATA[.a{fill:url(#g)}]]>
			<![CDATA[.b{fill:#fff}]]></style><rect class="a b"/>`,
	}
	for name, body := range accepted {
		if err := checkSVG([]byte(svgOpen + body + `</svg>`)); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
	}
}
