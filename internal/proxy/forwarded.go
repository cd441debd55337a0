package proxy

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// Forwarded is the original request as a proxy in front describes it in
// X-Forwarded-Method, -Proto, -Host and -Uri: nginx's auth_request with
// proxy_set_header, Traefik's ForwardAuth, Caddy's forward_auth. Read it
// only from a trusted peer.
type Forwarded struct{ Method, Proto, Host, URI string }

// ForwardedRequest reads the four headers from h; all four are required.
// ok is false when one is missing or given more than once (several lines,
// or a comma list for Method, Proto and Host), when Proto is not http or
// https, Host is not a valid host[:port], URI does not start with "/" or
// starts with "//" or holds a space or control character (a request target
// has none, and proxies join repeated values with ", "), or Method is not
// an HTTP token. Proto and Host are returned in lower case; URI as sent
// (it may legitimately hold commas).
func ForwardedRequest(h http.Header) (Forwarded, bool) {
	var f Forwarded
	var ok bool
	if f.Method, ok = single(h, "X-Forwarded-Method"); !ok || !isToken(f.Method) {
		return Forwarded{}, false
	}
	if f.Proto, ok = single(h, "X-Forwarded-Proto"); !ok {
		return Forwarded{}, false
	}
	if f.Proto = strings.ToLower(f.Proto); f.Proto != "http" && f.Proto != "https" {
		return Forwarded{}, false
	}
	if f.Host, ok = single(h, "X-Forwarded-Host"); !ok || !validHostPort(f.Host) {
		return Forwarded{}, false
	}
	f.Host = strings.ToLower(f.Host)
	if f.URI, ok = singleLine(h, "X-Forwarded-Uri"); !ok || !validURI(f.URI) {
		return Forwarded{}, false
	}
	return f, true
}

// single returns the one value of header k: one line, no comma.
func single(h http.Header, k string) (string, bool) {
	v, ok := singleLine(h, k)
	if !ok || strings.IndexByte(v, ',') >= 0 {
		return "", false
	}
	return v, true
}

// singleLine returns the value of header k when it came in exactly one
// line, trimmed of spaces and tabs.
func singleLine(h http.Header, k string) (string, bool) {
	vs := h[k]
	if len(vs) != 1 {
		return "", false
	}
	v := strings.Trim(vs[0], " \t")
	return v, v != ""
}

func validURI(u string) bool {
	if u == "" || u[0] != '/' || strings.HasPrefix(u, "//") {
		return false
	}
	for i := 0; i < len(u); i++ {
		// A request target never has a fragment (RFC 9112 3.2); nginx
		// passes "/admin#x" on, which apps read as /admin.
		if c := u[i]; c <= ' ' || c == 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// validHostPort reports whether s is host or host:port with a DNS name,
// an IPv4 address or a bracketed IPv6 address, and a port of 1 to 65535.
func validHostPort(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		host, port = s[1:end], s[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
		if !strings.Contains(host, ":") || !isIP(host) {
			return false
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i:]
		if !isHostName(host) {
			return false
		}
	} else if !isHostName(host) {
		return false
	}
	if port == "" {
		return true
	}
	n, err := strconv.Atoi(port[1:])
	return err == nil && n >= 1 && n <= 65535 && port[1] != '+' && port[1] != '-'
}

// isIP reports whether s is an IP address without a zone.
func isIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

// isHostName reports whether s is made of DNS name characters ("_" too,
// which some internal names use) with non-empty labels.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// isToken reports whether s is an HTTP token (RFC 9110, section 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
