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
		"/auth":                  "/",
		"/%6Cogin":               "/",
	}
	s := &Server{home: "/"}
	for in, want := range cases {
		if got := s.safeReturnTo(in); got != want {
			t.Errorf("safeReturnTo(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSafeReturnToUnderPrefix: with rp's routes under a prefix, its own
// sign-in routes are refused there (they would loop), and the app's paths
// of the same names are the app's.
func TestSafeReturnToUnderPrefix(t *testing.T) {
	s := &Server{prefix: "/_rp", home: "/"}
	cases := map[string]string{
		"/_rp/login":          "/",
		"/_rp/LOGIN/":         "/",
		"/_rp/callback?x=1":   "/",
		"/_rp/logout":         "/",
		"/_rp/logged-out":     "/",
		"/_rp/auth":           "/",
		"/_rp/profile":        "/_rp/profile",
		"/login":              "/login",
		"/app/page?q=1":       "/app/page?q=1",
		"//evil.example/_rp/": "/",
	}
	for in, want := range cases {
		if got := s.safeReturnTo(in); got != want {
			t.Errorf("safeReturnTo(%q) = %q, want %q", in, got, want)
		}
	}
}
