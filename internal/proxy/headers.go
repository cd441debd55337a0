package proxy

import (
	"net/http"
	"strings"
)

// Identity is what the upstream app is told about the signed-in user.
type Identity struct {
	User              string // the provider's sub
	Email             string
	PreferredUsername string
	Groups            []string
	AccessToken       string // sent as "Authorization: Bearer ..." when non-empty
}

// The identity headers rp sets, for the upstream in proxy mode and in the
// 2xx answer of forward-auth.
const (
	HeaderUser              = "X-Forwarded-User"
	HeaderEmail             = "X-Forwarded-Email"
	HeaderPreferredUsername = "X-Forwarded-Preferred-Username"
	HeaderGroups            = "X-Forwarded-Groups"
)

// StripIdentity deletes from h every header an app could take for one of
// the four identity headers: any letter case and any punctuation in place
// of '-' (sameHeaderName), and every duplicate line. With
// alsoAuthorization it deletes Authorization too, in the same spellings.
func StripIdentity(h http.Header, alsoAuthorization bool) {
	for k := range h {
		if isIdentityHeader(k) || alsoAuthorization && sameHeaderName(k, "Authorization") {
			delete(h, k)
		}
	}
}

func isIdentityHeader(k string) bool {
	return sameHeaderName(k, HeaderUser) || sameHeaderName(k, HeaderEmail) ||
		sameHeaderName(k, HeaderPreferredUsername) || sameHeaderName(k, HeaderGroups)
}

// stripSpellings deletes from h every header that reads as one of names
// (sameHeaderName).
func stripSpellings(h http.Header, names ...string) {
	for k := range h {
		for _, name := range names {
			if sameHeaderName(k, name) {
				delete(h, k)
				break
			}
		}
	}
}

// sameHeaderName reports whether header name k has the ASCII letters and
// digits of want, in order, ignoring case, with anything else between,
// before or after them. That is every name an app could read as want:
// CGI, WSGI and PHP map X_Forwarded_User to HTTP_X_FORWARDED_USER, PHP
// maps the '.' of X.Forwarded.User too, and lighttpd's CGI, FastCGI and
// SCGI and Apache httpd before 2.4 map every byte that is not a letter or
// digit (X~Forwarded~User, X-Forwarded+User). It also takes names no app
// reads as want (XForwardedUser, X--Forwarded-User), which nobody sends
// for another purpose. It does not allocate.
func sameHeaderName(k, want string) bool {
	// Most names differ in their first byte, a letter: answer at once.
	if k != "" && want != "" {
		if a, b := alnumFold[k[0]], alnumFold[want[0]]; a != b && a != 0 && b != 0 {
			return false
		}
	}
	end, ok := matchAlnum(k, want)
	return ok && nextAlnum(k, end) == len(k)
}

// hasHeaderPrefix reports whether header name k starts with prefix, read
// as sameHeaderName reads names. A prefix that ends in '-' needs some
// punctuation there in k too: Oidc- takes Oidc_Claim and Oidc~Claim but not
// Oidcfoo, which a CGI app reads as another name (HTTP_OIDCFOO).
func hasHeaderPrefix(k, prefix string) bool {
	end, ok := matchAlnum(k, prefix)
	if !ok {
		return false
	}
	if prefix != "" && prefix[len(prefix)-1] == '-' {
		return end < len(k) && alnumFold[k[end]] == 0
	}
	return true
}

// matchAlnum walks the letters and digits of want and the same number of
// letters and digits of k, skipping everything else, and reports whether
// they are equal but for ASCII case; end is the index in k just past the
// last one compared.
func matchAlnum(k, want string) (end int, ok bool) {
	i, j := 0, 0
	for {
		if j = nextAlnum(want, j); j == len(want) {
			return i, true
		}
		if i = nextAlnum(k, i); i == len(k) || alnumFold[k[i]] != alnumFold[want[j]] {
			return 0, false
		}
		i++
		j++
	}
}

// nextAlnum returns the index of the first ASCII letter or digit of s at
// or after i, or len(s).
func nextAlnum(s string, i int) int {
	for i < len(s) && alnumFold[s[i]] == 0 {
		i++
	}
	return i
}

// alnumFold maps ASCII letters to lower case and digits to themselves;
// every other byte to 0.
var alnumFold = func() (t [256]byte) {
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c)
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = byte(c)
		t[c-'a'+'A'] = byte(c)
	}
	return t
}()

// SetIdentity sets the identity headers on h; call StripIdentity first.
// Control characters (C0, including CR, LF and NUL, and DEL) are removed
// from every value and surrounding spaces trimmed; empty values are not
// sent. Groups are joined with ","; a group that is empty, contains a comma
// or a control character, or begins or ends with a space is dropped, since
// the upstream could not split it back to the same name. A non-empty
// AccessToken is sent as "Authorization: Bearer <token>".
func SetIdentity(h http.Header, id Identity) {
	setClean(h, HeaderUser, id.User)
	setClean(h, HeaderEmail, id.Email)
	setClean(h, HeaderPreferredUsername, id.PreferredUsername)
	if g := joinGroups(id.Groups); g != "" {
		h.Set(HeaderGroups, g)
	}
	if t := cleanValue(id.AccessToken); t != "" {
		h.Set("Authorization", "Bearer "+t)
	}
}

func setClean(h http.Header, name, v string) {
	if v = cleanValue(v); v != "" {
		h.Set(name, v)
	}
}

// cleanValue removes control characters and trims spaces. It returns v
// itself, without allocating, when there is nothing to remove.
func cleanValue(v string) string {
	if strings.IndexFunc(v, isControl) >= 0 {
		v = strings.Map(func(r rune) rune {
			if isControl(r) {
				return -1
			}
			return r
		}, v)
	}
	return strings.Trim(v, " ")
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func joinGroups(groups []string) string {
	switch {
	case len(groups) == 0:
		return ""
	case len(groups) == 1 && groupFits(groups[0]):
		return groups[0]
	}
	n := 0
	for _, g := range groups {
		n += len(g) + 1
	}
	var b strings.Builder
	b.Grow(n)
	for _, g := range groups {
		if !groupFits(g) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(g)
	}
	return b.String()
}

func groupFits(g string) bool {
	return g != "" && g[0] != ' ' && g[len(g)-1] != ' ' &&
		!strings.ContainsRune(g, ',') && strings.IndexFunc(g, isControl) < 0
}
