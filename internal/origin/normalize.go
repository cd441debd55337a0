package origin

import (
	"net/url"
	"strings"
)

// Normalize writes an origin the way browsers send it in Origin headers:
// lower-case scheme and host, no default port, no trailing slash. Anything
// unparsable comes back with only its trailing slashes removed, for the
// caller's validation to report.
func Normalize(raw string) string {
	raw = strings.TrimRight(raw, "/")
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	if port := u.Port(); (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		u.Host = strings.TrimSuffix(u.Host, ":"+port) // keeps an IPv6 address's brackets
	}
	return u.String()
}
