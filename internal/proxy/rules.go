package proxy

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/rp-project/rp/internal/maildomain"
)

// PathRule asks for a group below a path prefix.
type PathRule struct {
	Prefix string   // "/admin"
	Groups []string // one of them is needed; none: no group needed below Prefix
}

// Rules say who may pass. The zero value lets every signed-in user pass.
type Rules struct {
	// Groups: the user needs one of these (empty: no group needed).
	Groups []string
	// EmailDomains: the email's domain must be one of these, the exact
	// domain (no subdomains), each compared as written with ASCII letter
	// case ignored and a U-label equal to its A-label (maildomain.Canonical:
	// no Unicode folding or mapping). An email whose domain is not a domain
	// name as written never matches, nor does a configured one that is not.
	// The provider must say email_verified is true.
	EmailDomains []string
	// Paths: the rule with the longest Prefix matching the path applies,
	// in addition to Groups and EmailDomains.
	Paths []PathRule
}

// Enabled reports whether any rule is set.
func (r Rules) Enabled() bool {
	return len(r.Groups) > 0 || len(r.EmailDomains) > 0 || len(r.Paths) > 0
}

// HasPathRules reports whether r has per-path rules.
func (r Rules) HasPathRules() bool { return len(r.Paths) > 0 }

// Allow reports whether u may reach path, a decoded URL path (r.URL.Path,
// or the forwarded URI's path), and if not, a short reason in plain words
// for the log and the 403 page. Check the path with SafePath first.
//
// A rule group "admins" matches the claim "admins" or "/admins" (Keycloak's
// full group path); a rule group starting with "/" matches only exactly.
// Group names are case-sensitive.
//
// Path prefixes are matched ignoring ASCII case after repeated slashes are
// collapsed and backslashes read as slashes (as IIS and some Windows
// servers do); a Prefix matches when the path equals it or continues with
// "/" or ";" (Tomcat's path parameters), so "/admin" covers "/admin/x" and
// "/admin;jsessionid=1" but not "/administrator".
func (r Rules) Allow(u User, path string) (ok bool, reason string) {
	if len(r.Groups) > 0 && !inAnyGroup(u.Groups, r.Groups) {
		return false, "you are not in any of the groups " + quoteList(r.Groups)
	}
	if len(r.EmailDomains) > 0 {
		if ok, reason := emailAllowed(u, r.EmailDomains); !ok {
			return false, reason
		}
	}
	if len(r.Paths) == 0 {
		return true, ""
	}
	// Servers disagree on whether a backslash ends a path parameter
	// (";x\\y"): the path must pass the rules under both readings.
	for _, p := range [...]string{normalizePath(path, true), normalizePath(path, false)} {
		if pr, found := r.pathRule(p); found && len(pr.Groups) > 0 && !inAnyGroup(u.Groups, pr.Groups) {
			return false, "you are not in any of the groups " + quoteList(pr.Groups) + " needed for " + pr.Prefix
		}
	}
	return true, ""
}

// pathRule returns the rule with the longest prefix that matches the
// normalized path p.
func (r Rules) pathRule(p string) (PathRule, bool) {
	best, bestLen := -1, -1
	for i, rule := range r.Paths {
		prefix := strings.TrimRight(normalizePath(rule.Prefix, true), "/")
		if len(prefix) > bestLen && prefixMatches(p, prefix) {
			best, bestLen = i, len(prefix)
		}
	}
	if best < 0 {
		return PathRule{}, false
	}
	return r.Paths[best], true
}

// prefixMatches reports whether p equals prefix or continues it with "/",
// ";" or "." (Rails routes /admin.json to /admin, and Spring before 5.3
// /admin.* too). The prefix "" (from "/") matches every path. Letter case is
// ignored: apps on Express, ASP.NET or IIS serve /Admin as /admin, and a
// rule that one spelling could pass would protect nothing there. For an
// ASCII prefix this is ASCII case folding (a look-alike such as the Kelvin
// sign is longer in UTF-8 and cannot match); a non-ASCII prefix also covers
// its Unicode case variants, as those servers route them. Unlike email
// domains, matching more here only puts more paths under the rule.
func prefixMatches(p, prefix string) bool {
	if len(p) < len(prefix) || !strings.EqualFold(p[:len(prefix)], prefix) {
		return false
	}
	if len(p) == len(prefix) || prefix == "" {
		return true
	}
	c := p[len(prefix)]
	return c == '/' || c == ';' || c == '.'
}

// normalizePath reads the path as the most lenient app server would route
// it: backslashes as slashes (IIS), every segment cut at its first ";"
// (Tomcat, Jetty and Spring drop path parameters from every segment, so
// /api;x/admin is /api/admin to them), and repeated slashes collapsed. It
// returns p itself when there is nothing to change.
// With backslashIsSlash false, a backslash inside a path parameter is part
// of the parameter (it is read as a slash only outside one).
func normalizePath(p string, backslashIsSlash bool) string {
	if !strings.Contains(p, "//") && !strings.ContainsAny(p, `\;`) {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	prevSlash, inParams := false, false
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '\\' && (backslashIsSlash || !inParams) {
			c = '/'
		}
		switch {
		case c == '/':
			inParams = false
			if prevSlash {
				continue
			}
		case inParams:
			continue
		case c == ';':
			inParams = true
			continue
		}
		prevSlash = c == '/'
		b.WriteByte(c)
	}
	return b.String()
}

// inAnyGroup reports whether one of the user's groups matches one of the
// wanted ones.
func inAnyGroup(have, want []string) bool {
	for _, w := range want {
		if w == "" {
			continue
		}
		for _, h := range have {
			if h == w || w[0] != '/' && len(h) == len(w)+1 && h[0] == '/' && h[1:] == w {
				return true
			}
		}
	}
	return false
}

func emailAllowed(u User, domains []string) (bool, string) {
	at := strings.LastIndexByte(u.Email, '@')
	if u.Email == "" || at < 0 {
		return false, "your account has no email address, and only addresses at " + quoteList(domains) + " may pass"
	}
	// Domains are compared as written, ASCII letter case aside: no Unicode
	// case folding or mapping, which made "ſtaff.example" (long s) equal
	// to staff.example. A U-label equals its A-label.
	domain := u.Email[at+1:]
	canon, err := maildomain.Canonical(domain)
	if err != nil {
		return false, "your email domain " + strconv.QuoteToASCII(domain) + " is not a domain name as written, and only addresses at " + quoteList(domains) + " may pass"
	}
	for _, d := range domains {
		if c, err := maildomain.Canonical(strings.TrimPrefix(d, "@")); err != nil || c != canon {
			continue
		}
		if u.EmailVerified == nil || !*u.EmailVerified {
			// Only an address the provider says it verified: some
			// providers let users type any address ("nOAuth").
			return false, "your email address is not verified by the identity provider"
		}
		return true, ""
	}
	return false, "your email domain is not one of " + quoteList(domains)
}

// quoteList renders names as `"a", "b"`.
func quoteList(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(n))
	}
	return b.String()
}

// SafePath reports whether a decoded request path is fit to match rules and
// to proxy: it starts with "/", has no NUL, and has no "." or ".." segment,
// with "/" or "\" as separators and a segment read up to its first ";" (so
// Tomcat's "/..;/" counts as ".."). The caller answers 400 otherwise.
func SafePath(p string) bool {
	if p == "" || p[0] != '/' || strings.IndexByte(p, 0) >= 0 {
		return false
	}
	for rest := p[1:]; ; {
		i := strings.IndexAny(rest, `/\`)
		seg := rest
		if i >= 0 {
			seg = rest[:i]
		}
		if j := strings.IndexByte(seg, ';'); j >= 0 {
			seg = seg[:j]
		}
		if seg == "." || seg == ".." {
			return false
		}
		if i < 0 {
			return true
		}
		rest = rest[i+1:]
	}
}

// ParamPath is the path of u as Tomcat routes it when its path has
// parameters: cut from the raw segments before decoding (its
// parsePathParameters), so an encoded "/" or "\\" inside a parameter
// separates nothing and "/;x%2Fy/admin" is //admin, where decoding first
// gives /;x/y/admin. ok is false when that reading is u.Path's own; when
// true, the caller checks SafePath and Allow on both. No allocation for a
// path without ";".
func ParamPath(u *url.URL) (p string, ok bool) {
	esc := u.EscapedPath()
	if !strings.Contains(esc, ";") {
		return "", false
	}
	segs := strings.Split(esc, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	d, err := url.PathUnescape(strings.Join(segs, "/"))
	if err != nil || d == u.Path {
		return "", false
	}
	return d, true
}
