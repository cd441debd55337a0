package web_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const logoSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="14" fill="#1d4ed8"/></svg>`

func logoFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "logo.svg")
	if err := os.WriteFile(path, []byte(logoSVG), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The name and logo in every page's header and title; the logo served by rp
// as an image that cannot run script, cacheable and never sniffed.
func TestBrandNameAndLogo(t *testing.T) {
	h := newHarness(t, withEnv("RP_BRAND_NAME", "Example & Co"), withEnv("RP_BRAND_LOGO", logoFile(t)))
	for _, path := range []string{"/", "/nope", "/logout"} {
		r := h.get(path)
		if !strings.Contains(r.body, `<span>Example &amp; Co</span>`) || !strings.Contains(r.body, ` · Example &amp; Co</title>`) {
			t.Errorf("%s does not name the brand:\n%s", path, r.body)
		}
		if !strings.Contains(r.body, `<img src="/static/logo" alt="" height="32">`) {
			t.Errorf("%s does not show the logo:\n%s", path, r.body)
		}
	}

	r := h.get("/static/logo")
	hd := r.Header
	if r.StatusCode != http.StatusOK || r.body != logoSVG {
		t.Fatalf("/static/logo: %d %q", r.StatusCode, r.body)
	}
	for k, want := range map[string]string{
		"Content-Type":            "image/svg+xml",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'; sandbox",
		"Cache-Control":           "public, max-age=3600",
	} {
		if got := hd.Get(k); got != want {
			t.Errorf("/static/logo %s = %q, want %q", k, got, want)
		}
	}
	if len(hd.Values("Content-Security-Policy")) != 1 {
		t.Errorf("the logo has several CSPs: %q", hd.Values("Content-Security-Policy"))
	}
	etag := hd.Get("ETag")
	if etag == "" {
		t.Fatal("/static/logo has no ETag")
	}
	req, _ := http.NewRequest(http.MethodGet, h.base+"/static/logo", nil)
	req.Header.Set("If-None-Match", etag)
	if r := h.do(h.client, req); r.StatusCode != http.StatusNotModified || r.body != "" {
		t.Errorf("revalidation: %d %q", r.StatusCode, r.body)
	}
}

func TestNoLogoByDefault(t *testing.T) {
	h := newHarness(t)
	r := h.get("/")
	if strings.Contains(r.body, "<img") || !strings.Contains(r.body, `<span>rp</span>`) || !strings.Contains(r.body, "· rp</title>") {
		t.Errorf("the default header:\n%s", r.body)
	}
	if r := h.get("/static/logo"); r.StatusCode != http.StatusNotFound {
		t.Errorf("/static/logo without a logo: %d", r.StatusCode)
	}
}

// In proxy mode the logo is one of rp's routes: under the prefix, or
// without one at exactly /static/logo, never passed to the app.
func TestLogoInProxyMode(t *testing.T) {
	for _, prefix := range []string{"/_rp", ""} {
		h, a := newProxy(t, withEnv("RP_PATH_PREFIX", prefix), withEnv("RP_BRAND_LOGO", logoFile(t)))
		if r := h.get(prefix + "/static/logo"); r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != "image/svg+xml" {
			t.Errorf("prefix %q: %s/static/logo: %d %s", prefix, prefix, r.StatusCode, r.Header.Get("Content-Type"))
		}
		if len(a.requests()) != 0 {
			t.Errorf("prefix %q: the logo's request reached the app", prefix)
		}
		if r := h.get(prefix + "/nope"); prefix != "" && !strings.Contains(r.body, `<img src="/_rp/static/logo"`) {
			t.Errorf("prefix %q: the logo's link is not under the prefix:\n%s", prefix, r.body)
		}
	}
}
