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
