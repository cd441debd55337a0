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
// the four identity headers: any letter case, '_' or '.' in place of '-'
// (CGI, WSGI and PHP map X-Forwarded-User and X_Forwarded_User to
// HTTP_X_FORWARDED_USER, and PHP reads X.Forwarded.User as that too), and
// every duplicate line. With alsoAuthorization it deletes Authorization
// too, in the same spellings.
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

// stripSpellings deletes from h every header that reads as name when
// letter case is ignored and '_' or '.' taken for '-'.
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

// sameHeaderName reports whether header name k reads as want to a server
// that ignores ASCII case and maps '_' to '-' (CGI's HTTP_* variables,
// WSGI, PHP), or '.' to '-' (PHP turns the '.' that nginx and Caddy leave
// in HTTP_X.FORWARDED.USER into '_'). It does not allocate.
func sameHeaderName(k, want string) bool {
	if len(k) != len(want) {
		return false
	}
	for i := 0; i < len(k); i++ {
		a, b := foldHeaderByte(k[i]), foldHeaderByte(want[i])
		if a != b {
			return false
		}
	}
	return true
}

func foldHeaderByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case c == '_' || c == '.':
		return '-'
	}
	return c
}

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
