package web

import (
	"net/url"
	"strings"
)

// maxReturnTo bounds the length of a return_to path.
const maxReturnTo = 2048

// safeReturnTo returns raw when it is a path on rp's own origin, and "/"
// otherwise. It refuses anything a browser could read as another origin:
// "//host", "/\host", schemes, and the same hidden behind percent-encoding
// or mixed case; and the sign-in and sign-out routes themselves, which would
// loop.
func safeReturnTo(raw string) string {
	if raw == "" || len(raw) > maxReturnTo || raw[0] != '/' {
		return "/"
	}
	// Decode repeatedly: what matters is what any later decoder may see.
	decoded := raw
	for range 3 {
		d, err := url.PathUnescape(decoded)
		if err != nil {
			return "/"
		}
		if d == decoded {
			break
		}
		decoded = d
	}
	for _, s := range []string{raw, decoded} {
		if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
			return "/"
		}
		if strings.ContainsAny(s, "\\\x00") || strings.ContainsFunc(s, isControl) {
			return "/"
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	switch strings.ToLower(strings.TrimRight(u.Path, "/")) {
	case "/login", "/callback", "/logout", "/logged-out":
		return "/"
	}
	u.Fragment = ""
	return u.RequestURI()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
