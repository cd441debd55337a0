package origin

import (
	"net/http/httptest"
	"testing"
)

func TestSame(t *testing.T) {
	const self = "https://rp.example"
	cases := []struct {
		origin, site string
		want         bool
	}{
		{self, "same-origin", true},
		{self, "", true},
		{"https://evil.example", "cross-site", false},
		{"https://evil.example", "", false},
		{"https://rp.example:8443", "same-site", false},
		{"null", "same-origin", true}, // a same-origin form under Referrer-Policy: no-referrer
		{"null", "cross-site", false}, // a sandboxed cross-site frame
		{"null", "", false},
		{"", "same-origin", true},
		{"", "same-site", false},
		{"", "cross-site", false},
		{"", "none", false},
		{"", "", true}, // no browser: the CSRF token decides
	}
	for _, tc := range cases {
		r := httptest.NewRequest("POST", "/logout", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if tc.site != "" {
			r.Header.Set("Sec-Fetch-Site", tc.site)
		}
		if got := Same(r, self); got != tc.want {
			t.Errorf("Origin %q, Sec-Fetch-Site %q: %v, want %v", tc.origin, tc.site, got, tc.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"https://APP.example.com/":     "https://app.example.com",
		"HTTPS://app.example.com:443":  "https://app.example.com",
		"http://app.example.com:80//":  "http://app.example.com",
		"http://app.example.com:8080":  "http://app.example.com:8080",
		"https://app.example.com:80":   "https://app.example.com:80",
		"http://[::1]:80":              "http://[::1]",
		"https://[2001:DB8::1]:8443":   "https://[2001:db8::1]:8443",
		"not a url/":                   "not a url",
		"https://app.example.com/path": "https://app.example.com/path", // the caller refuses paths
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}
