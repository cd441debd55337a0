package web

import "testing"

func TestSafeReturnTo(t *testing.T) {
	cases := map[string]string{
		"/":                      "/",
		"/profile":               "/profile",
		"/profile?a=1&b=2":       "/profile?a=1&b=2",
		"/profile#frag":          "/profile",
		"/a/b/../c":              "/a/b/../c",
		"":                       "/",
		"profile":                "/",
		"//evil.example":         "/",
		"///evil.example":        "/",
		"/\\evil.example":        "/",
		"/\\/evil.example":       "/",
		"\\\\evil.example":       "/",
		"https://evil.example":   "/",
		"HtTpS://evil.example":   "/",
		"javascript:alert(1)":    "/",
		"/%2Fevil.example":       "/",
		"/%2fevil.example":       "/",
		"/%5Cevil.example":       "/",
		"/%5cevil.example":       "/",
		"/%252F%252Fevil":        "/",
		"/%25252F%25252Fevil":    "/",
		"/%zz":                   "/",
		"/profile\r\nSet-Cookie": "/",
		"/profile\x00":           "/",
		"/%0d%0aSet-Cookie:x":    "/",
		"/login":                 "/",
		"/LOGIN/":                "/",
		"/callback?code=x":       "/",
		"/logout":                "/",
		"/logged-out":            "/",
	}
	for in, want := range cases {
		if got := safeReturnTo(in); got != want {
			t.Errorf("safeReturnTo(%q) = %q, want %q", in, got, want)
		}
	}
}
