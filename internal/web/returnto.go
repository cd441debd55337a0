package web

import (
	"net/url"
	pathpkg "path"
	"strings"
)

// maxReturnTo bounds the length of a return_to path.
const maxReturnTo = 2048

// safeReturnTo returns raw when it is a path on rp's own origin, and rp's
// home otherwise. It refuses anything a browser could read as another origin:
// "//host", "/\host", schemes, and the same hidden behind percent-encoding
// or mixed case; and the sign-in and sign-out routes themselves, which would
// loop.
func (s *Server) safeReturnTo(raw string) string {
	switch p := safePath(raw); p {
	case "":
		return s.home
	default:
		path, _, _ := strings.Cut(p, "?")
		if d, err := url.PathUnescape(path); err == nil {
			path = d
		}
		// As the browser and rp's router read it: dot segments resolved
		// (%2e is decoded above), repeated slashes collapsed.
		switch strings.ToLower(strings.TrimRight(pathpkg.Clean("/"+path), "/")) {
		case s.prefix + "/login", s.prefix + "/callback", s.prefix + "/logout", s.prefix + "/logged-out", s.prefix + "/auth":
			return s.home
		}
		return p
	}
}

// safePath returns raw as a request URI when it is a path that no browser
// reads as another origin, and "" otherwise.
func safePath(raw string) string {
	if raw == "" || len(raw) > maxReturnTo || raw[0] != '/' {
		return ""
	}
	// Decode repeatedly: what matters is what any later decoder may see.
	decoded := raw
	for range 3 {
		d, err := url.PathUnescape(decoded)
		if err != nil {
			return ""
		}
		if d == decoded {
			break
		}
		decoded = d
	}
	for _, s := range []string{raw, decoded} {
		if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
			return ""
		}
		if strings.ContainsAny(s, "\\\x00") || strings.ContainsFunc(s, isControl) {
			return ""
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	u.Fragment = ""
	return u.RequestURI()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
