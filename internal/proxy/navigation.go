package proxy

import (
	"net/http"
	"strings"
)

// IsNavigation reports whether a request, given its method and headers, is
// a browser navigation that may be redirected to sign-in: GET or HEAD; an
// Accept header that names text/html; no Upgrade header; no
// X-Requested-With; Sec-Fetch-Mode absent or "navigate"; Sec-Fetch-Dest
// absent or "document". Everything else (fetch, XHR, WebSocket, POST, API
// clients) should get a 401 rather than a redirect it cannot follow.
func IsNavigation(method string, h http.Header) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	if len(h["Upgrade"]) > 0 || len(h["X-Requested-With"]) > 0 {
		return false
	}
	if !acceptsHTML(h["Accept"]) {
		return false
	}
	if m, ok := h["Sec-Fetch-Mode"]; ok && (len(m) != 1 || !strings.EqualFold(strings.TrimSpace(m[0]), "navigate")) {
		return false
	}
	if d, ok := h["Sec-Fetch-Dest"]; ok && (len(d) != 1 || !strings.EqualFold(strings.TrimSpace(d[0]), "document")) {
		return false
	}
	return true
}

// acceptsHTML reports whether an Accept header names text/html with a
// quality above zero.
func acceptsHTML(lines []string) bool {
	for _, line := range lines {
		for line != "" {
			var item string
			item, line, _ = strings.Cut(line, ",")
			mediaType, params, _ := strings.Cut(item, ";")
			if !strings.EqualFold(strings.TrimSpace(mediaType), "text/html") {
				continue
			}
			if !zeroQuality(params) {
				return true
			}
		}
	}
	return false
}

// zeroQuality reports whether media type parameters hold q=0.
func zeroQuality(params string) bool {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			v = strings.TrimSpace(v)
			return strings.Trim(v, "0.") == "" && v != ""
		}
	}
	return false
}
