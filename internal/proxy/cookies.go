package proxy

import (
	"net/http"
	"strings"
)

// StripCookie removes every cookie of rp's, named name or name followed by
// "_" and more (see ownCookie), from h's Cookie header lines. Lines without such a
// cookie are kept byte for byte; in a line that had one, the other cookies
// keep their bytes and order and are joined with "; ". A line left empty is
// deleted, and the header with it when no line is left. The slice held in
// h is replaced, never written to, so a header cloned from h is safe.
func StripCookie(h http.Header, name string) {
	if name == "" {
		return
	}
	rewriteLines(h, "Cookie", func(line string) string {
		if !hasCookie(line, name) {
			return line
		}
		return withoutCookie(line, name)
	})
}

// rewriteLines replaces each line of h[key] with f(line), dropping lines f
// empties and the header when none is left. Copy on write: when f changes
// nothing, nothing is allocated, and the slice held in h is never written
// to, so a header cloned from h is safe.
func rewriteLines(h http.Header, key string, f func(line string) string) {
	lines := h[key]
	var out []string
	changed := false
	for i, line := range lines {
		next := f(line)
		if next == line && !changed {
			continue
		}
		if !changed {
			out = append(make([]string, 0, len(lines)), lines[:i]...)
			changed = true
		}
		if next != "" {
			out = append(out, next)
		}
	}
	switch {
	case !changed:
	case len(out) == 0:
		delete(h, key)
	default:
		h[key] = out
	}
}

// hasCookie reports whether the Cookie line holds a cookie named name. It
// does not allocate, so requests without rp's cookie cost nothing more.
func hasCookie(line, name string) bool {
	for line != "" {
		var part string
		part, line, _ = strings.Cut(line, ";")
		if ownCookie(cookieName(part), name) {
			return true
		}
	}
	return false
}

func withoutCookie(line, name string) string {
	var b strings.Builder
	b.Grow(len(line))
	for line != "" {
		var part string
		part, line, _ = strings.Cut(line, ";")
		part = strings.Trim(part, " \t")
		if part == "" || ownCookie(cookieName(part), name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(part)
	}
	return b.String()
}

// ownCookie reports whether a cookie named n is one of rp's, whose session
// cookie is named name: name itself, or name, "_" and more (a sign-in in
// flight, the logout notice), ASCII case-insensitively, as some apps and
// proxies compare names.
func ownCookie(n, name string) bool {
	if len(n) < len(name) || !strings.EqualFold(n[:len(name)], name) {
		return false
	}
	return len(n) == len(name) || n[len(name)] == '_'
}

// cookieName is the name of one "name=value" pair of a Cookie line or of
// the first pair of a Set-Cookie line, without surrounding blanks.
func cookieName(pair string) string {
	name, _, _ := strings.Cut(pair, "=")
	return strings.Trim(name, " \t")
}

// dropSetCookie deletes the Set-Cookie lines of h that set one of rp's
// cookies (see ownCookie), so an app cannot overwrite or delete rp's
// session cookie, nor plant or delete a sign-in in flight.
func dropSetCookie(h http.Header, name string) {
	if name == "" {
		return
	}
	rewriteLines(h, "Set-Cookie", func(line string) string {
		first, _, _ := strings.Cut(line, ";")
		n := cookieName(first)
		if n == "" {
			// "=rp_session=x" has no name, and browsers send it back as
			// "rp_session=x": read the value as the name.
			_, v, _ := strings.Cut(first, "=")
			n = cookieName(v)
		}
		if ownCookie(n, name) {
			return ""
		}
		return line
	})
}
