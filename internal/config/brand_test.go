package config

import (
	"bytes"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// onePixelPNG is a valid 1×1 PNG.
const onePixelPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="

const plainSVG = `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 32 32">
  <defs><linearGradient id="g"><stop offset="0" stop-color="#2456d3"/></linearGradient></defs>
  <title>Example</title>
  <style>circle { fill: url(#g); }</style>
  <circle cx="16" cy="16" r="14"/><use xlink:href="#g"/>
</svg>`

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBrandDefaults(t *testing.T) {
	c, err := Load(nil, env(valid()), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.BrandName != "rp" || c.BrandLogo != "" || c.Logo != nil {
		t.Errorf("brand defaults: name %q, logo %q %v", c.BrandName, c.BrandLogo, c.Logo)
	}
}

func TestBrandLogoIsReadOnceWithItsType(t *testing.T) {
	png, _ := base64.StdEncoding.DecodeString(onePixelPNG)
	for _, tc := range []struct {
		name, file string
		data       []byte
		wantType   string
	}{
		{"png", "logo.png", png, "image/png"},
		{"png named .svg", "logo.svg", png, "image/png"},
		{"svg", "logo.svg", []byte(plainSVG), "image/svg+xml"},
		{"svg without declaration", "logo", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><rect width="4" height="4"/></svg>`), "image/svg+xml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			e["RP_BRAND_NAME"] = "Example Corp"
			e["RP_BRAND_LOGO"] = writeFile(t, tc.file, tc.data)
			c, err := Load(nil, env(e), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.BrandName != "Example Corp" || c.Logo == nil || c.Logo.Type != tc.wantType || !bytes.Equal(c.Logo.Data, tc.data) {
				t.Errorf("got name %q, logo %+v", c.BrandName, c.Logo)
			}
		})
	}
}

func TestBadBrandSettings(t *testing.T) {
	png, _ := base64.StdEncoding.DecodeString(onePixelPNG)
	dir := t.TempDir()
	unreadable := writeFile(t, "unreadable.png", png)
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, setting, value, want string
	}{
		{"blank name", "RP_BRAND_NAME", "   ", "RP_BRAND_NAME: must not be empty"},
		{"long name", "RP_BRAND_NAME", strings.Repeat("x", 61), "RP_BRAND_NAME: is 61 characters long"},
		{"two lines", "RP_BRAND_NAME", "Example\nCorp", "RP_BRAND_NAME: \"Example\\nCorp\" must be one line"},
		{"missing logo", "RP_BRAND_LOGO", filepath.Join(dir, "nope.svg"), "RP_BRAND_LOGO: cannot open the logo file"},
		{"directory", "RP_BRAND_LOGO", dir, "is not a regular file"},
		{"empty", "RP_BRAND_LOGO", writeFile(t, "empty.png", nil), "is empty"},
		{"too large", "RP_BRAND_LOGO", writeFile(t, "big.png", append(png, make([]byte, MaxLogoBytes)...)), "is larger than 256 KiB"},
		{"text", "RP_BRAND_LOGO", writeFile(t, "logo.png", []byte("hello, world")), "is not a PNG, JPEG, GIF, WebP or SVG image (its content looks like text/plain)"},
		{"html", "RP_BRAND_LOGO", writeFile(t, "logo.svg", []byte("<html><body><svg></svg></body></html>")), "is not a PNG, JPEG, GIF, WebP or SVG image"},
		{"script", "RP_BRAND_LOGO", writeFile(t, "s.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)), "has a <script> element"},
		{"event handler", "RP_BRAND_LOGO", writeFile(t, "s.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`)), "event handler attribute onload"},
		{"foreignObject", "RP_BRAND_LOGO", writeFile(t, "s.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p xmlns="http://www.w3.org/1999/xhtml">hi</p></foreignObject></svg>`)), "has a <foreignObject> element"},
		{"javascript link", "RP_BRAND_LOGO", writeFile(t, "s.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="javascript:alert(1)"><rect/></a></svg>`)), "has a <a> element"},
		{"external image", "RP_BRAND_LOGO", writeFile(t, "s.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><image href="https://tracker.example/p.png"/></svg>`)), "has a <image> element"},
		{"entities", "RP_BRAND_LOGO", writeFile(t, "s.svg", []byte(`<!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>`)), "<!DOCTYPE>"},
		{"unreadable", "RP_BRAND_LOGO", unreadable, "RP_BRAND_LOGO: cannot open the logo file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "unreadable" && os.Geteuid() == 0 {
				t.Skip("root reads any file")
			}
			e := valid()
			e[tc.setting] = tc.value
			_, err := Load(nil, env(e), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Count(err.Error(), tc.setting) != 1 {
				t.Errorf("%s reported more than once: %v", tc.setting, err)
			}
		})
	}
}
