package web

import "net/http"

// Handler returns rp's routes wrapped in the middleware every response
// passes through.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	page := s.withSession

	mux.Handle("GET /{$}", page(http.HandlerFunc(s.handleHome)))
	mux.Handle("GET /login", page(http.HandlerFunc(s.handleLogin)))
	mux.Handle("GET /callback", page(http.HandlerFunc(s.handleCallback)))
	mux.Handle("GET /profile", page(http.HandlerFunc(s.handleProfile)))
	mux.Handle("GET /logout", page(http.HandlerFunc(s.handleLogoutConfirm)))
	mux.Handle("POST /logout", page(http.HandlerFunc(s.handleLogout)))
	mux.Handle("GET /logged-out", page(http.HandlerFunc(s.handleLoggedOut)))
	mux.Handle("GET /sessions", page(http.HandlerFunc(s.handleSessions)))
	mux.Handle("POST /sessions/end", page(http.HandlerFunc(s.handleSessionsEnd)))

	// Logouts started at the provider: no browser session of their own.
	mux.HandleFunc("POST /backchannel-logout", s.handleBackchannelLogout)
	mux.HandleFunc("/backchannel-logout", s.handleBackchannelMethod)
	mux.HandleFunc("GET /frontchannel-logout", s.handleFrontchannelLogout)

	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.HandleFunc("GET /static/style.css", s.handleStatic)
	mux.HandleFunc("GET /favicon.ico", s.handleFavicon)
	mux.HandleFunc("/", s.handleNotFound)

	return s.withRequestID(s.withRequestLog(s.withRecover(s.withSecurityHeaders(mux))))
}
