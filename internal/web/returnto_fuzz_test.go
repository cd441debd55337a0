package web

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzSafeReturnTo: whatever return_to says, where rp sends the browser
// after sign-in is a path on rp's own origin, with or without a path
// prefix: it starts with one "/" and no "\", has no control character,
// parses without a scheme or host, stays on rp's host when a browser
// resolves it, and is none of the sign-in and sign-out routes in any case
// or encoding (those would loop or sign out). To fuzz:
//
//	go test ./internal/web -run '^$' -fuzz '^FuzzSafeReturnTo$' -fuzztime 60s -parallel 1
func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{
		"/", "/profile?a=1&b=2", "/profile#frag", "/a/b/../c", "", "profile", "//evil.example",
		"///evil.example", "/\\evil.example", "\\\\evil.example", "HtTpS://evil.example", "javascript:alert(1)",
		"/%2Fevil.example", "/%5cevil.example", "/%252F%252Fevil", "/%zz", "/profile\r\nSet-Cookie",
		"/%0d%0aSet-Cookie:x", "/LOGIN/", "/callback?code=x", "/%6Cogin", "/_rp/LOGIN/", "/_rp/auth",
		"/\t/evil.example", "/ /evil.example", "/.%2e/evil", "/a?//evil",
	} {
		f.Add(s)
	}
	servers := []*Server{{prefix: "", home: "/"}, {prefix: "/_rp", home: "/"}, {prefix: "/_rp", home: "/_rp/"}}
	base, _ := url.Parse("https://rp.example")
	f.Fuzz(func(t *testing.T, raw string) {
		for _, s := range servers {
			got := s.safeReturnTo(raw)
			if got == s.home {
				continue
			}
			if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/\\") {
				t.Fatalf("prefix %q: safeReturnTo(%q) = %q", s.prefix, raw, got)
			}
			for _, c := range []byte(got) {
				if c < 0x20 || c == 0x7f || c == '\\' {
					t.Fatalf("prefix %q: safeReturnTo(%q) = %q holds %q", s.prefix, raw, got, c)
				}
			}
			u, err := url.Parse(got)
			if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
				t.Fatalf("prefix %q: safeReturnTo(%q) = %q parses as %+v (%v)", s.prefix, raw, got, u, err)
			}
			r := base.ResolveReference(u)
			if r.Scheme != "https" || r.Host != "rp.example" {
				t.Fatalf("prefix %q: safeReturnTo(%q) = %q resolves to %s", s.prefix, raw, got, r)
			}
			if route, ok := fuzzSignInRoute(s.prefix, got); ok {
				t.Fatalf("prefix %q: safeReturnTo(%q) = %q, which a browser and rp's router take to %s", s.prefix, raw, got, route)
			}
		}
	})
}

// fuzzSignInRoute reports whether a browser following a redirect to target,
// and rp routing the request, lands on one of rp's sign-in or sign-out
// routes: the browser resolves dot segments (also written %2e), rp decodes
// the path once and its router cleans it (repeated slashes, dot segments),
// and letter case is ignored for good measure.
func fuzzSignInRoute(prefix, target string) (string, bool) {
	p, _, _ := strings.Cut(target, "?")
	p, _, _ = strings.Cut(p, "#")
	// The browser: %2e is a dot in a dot segment (WHATWG URL).
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch strings.ToLower(s) {
		case "%2e":
			segs[i] = "."
		case ".%2e", "%2e.", "%2e%2e":
			segs[i] = ".."
		}
	}
	p = strings.Join(segs, "/")
	if d, err := url.PathUnescape(p); err == nil {
		p = d
	}
	p = strings.ToLower(path.Clean("/" + p))
	for _, r := range []string{"/login", "/callback", "/logout", "/logged-out", "/auth"} {
		if p == prefix+r {
			return p, true
		}
	}
	return "", false
}
