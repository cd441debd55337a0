package web

import (
	"net/http"
	"strings"
)

// Handler returns rp's routes wrapped in the middleware every response
// passes through. Every route is under the path prefix. In proxy mode,
// every request outside rp's routes goes to the app, without rp's page
// headers (the app's own answer passes unchanged).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.ownPaths = make(map[string]bool)
	handle := func(method, path string, h http.Handler) {
		mux.Handle(strings.TrimSpace(method+" "+s.prefix+path), h)
		s.ownPaths[s.prefix+path] = true
	}
	page := func(h http.HandlerFunc) http.Handler { return s.withSession(h) }

	if s.upstream == nil || s.prefix != "" {
		// In proxy mode without a prefix, / is the app's.
		mux.Handle("GET "+s.prefix+"/{$}", page(s.handleHome))
	}
	handle("GET", "/login", page(s.handleLogin))
	handle("GET", "/callback", page(s.handleCallback))
	handle("GET", "/profile", page(s.handleProfile))
	handle("GET", "/logout", page(s.handleLogoutConfirm))
	handle("POST", "/logout", page(s.handleLogout))
	handle("GET", "/logged-out", page(s.handleLoggedOut))
	handle("GET", "/sessions", page(s.handleSessions))
	handle("POST", "/sessions/end", page(s.handleSessionsEnd))
	// Forward-auth for nginx, Traefik and Caddy.
	handle("GET", "/auth", http.HandlerFunc(s.handleAuth))

	// Logouts started at the provider: no browser session of their own.
	handle("POST", "/backchannel-logout", http.HandlerFunc(s.handleBackchannelLogout))
	mux.HandleFunc(s.prefix+"/backchannel-logout", s.handleBackchannelMethod)
	if s.frontLogout {
		handle("GET", "/frontchannel-logout", http.HandlerFunc(s.handleFrontchannelLogout))
	} else {
		// Off (RP_FRONTCHANNEL_LOGOUT=false): not there, for any method,
		// and still rp's path, not the app's.
		handle("", "/frontchannel-logout", http.HandlerFunc(s.handleNotFound))
	}

	handle("GET", "/healthz", http.HandlerFunc(s.handleHealthz))
	handle("GET", "/readyz", http.HandlerFunc(s.handleReadyz))
	if s.metricsHere {
		handle("GET", "/metrics", s.metrics.Handler())
	}
	handle("GET", "/static/style.css", http.HandlerFunc(s.handleStatic))
	if len(s.brand.Logo) > 0 {
		handle("GET", logoRoute, http.HandlerFunc(s.handleLogo))
	}
	if s.upstream == nil || s.prefix != "" {
		handle("GET", "/favicon.ico", http.HandlerFunc(s.handleFavicon))
	}
	mux.HandleFunc("/", s.handleNotFound)
	if s.upstream == nil || s.prefix != "" {
		s.ownPaths = nil // a prefix decides, or there is no app
	}

	own := s.withSecurityHeaders(mux)
	root := http.Handler(own)
	if s.upstream != nil {
		root = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.ownsPath(r.URL.Path) {
				own.ServeHTTP(w, r)
				return
			}
			s.handleProxy(w, r)
		})
	}
	return s.withRequestID(s.withRequestLog(s.withRecover(root)))
}

// ownsPath reports whether path is one of rp's routes rather than the
// app's: everything under the prefix, or without a prefix rp's routes
// exactly.
func (s *Server) ownsPath(path string) bool {
	if s.prefix != "" {
		return path == s.prefix || strings.HasPrefix(path, s.prefix+"/")
	}
	return s.ownPaths[path]
}
