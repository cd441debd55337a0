// Package pathoracle says how lenient app servers read a request path,
// written apart from internal/proxy's rules so that fuzz tests can check
// those rules against it. It is for tests only.
package pathoracle

import (
	"net/url"
	"strings"
)

// Readings are the paths lenient app servers may route a raw (escaped)
// request path to: decoded with backslashes read as slashes before or
// after path parameters are cut, or kept as characters; and, as Tomcat
// does, with parameters cut before decoding. Each is collapsed and
// lower-cased (Finish).
func Readings(raw string) []string {
	var out []string
	if d, err := url.PathUnescape(raw); err == nil {
		out = append(out, Decoded(d)...)
	}
	if d, err := url.PathUnescape(CutParams(raw)); err == nil {
		out = append(out, Finish(d), Finish(backslashes(d)))
	}
	return out
}

// Decoded are the readings of an already decoded path.
func Decoded(d string) []string {
	return []string{
		Finish(CutParams(backslashes(d))), // backslash first (IIS), then parameters
		Finish(backslashes(CutParams(d))), // parameters first (Tomcat with allowBackslash)
		Finish(CutParams(d)),              // backslash is just a character
	}
}

func backslashes(s string) string { return strings.ReplaceAll(s, `\`, "/") }

// CutParams cuts every "/"-separated segment at its first ";".
func CutParams(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	return strings.Join(segs, "/")
}

// Finish collapses repeated slashes and lower-cases ASCII letters.
func Finish(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	b := []byte(p)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Under reports whether a finished path is prefix or below it, as the
// rules document: prefix followed by the end, "/", "." or ";".
func Under(p, prefix string) bool {
	rest, ok := strings.CutPrefix(p, prefix)
	return ok && (rest == "" || strings.ContainsRune("/.;", rune(rest[0])))
}

// HasDotSegment reports whether a "/"-separated path has a "." or ".."
// segment.
func HasDotSegment(p string) bool {
	for _, s := range strings.Split(p, "/") {
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}
