package web

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/rp-project/rp/templates"
)

// handleHealthz serves GET /healthz: the process is alive.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// StartDraining tells load balancers that rp is shutting down: /readyz
// answers 503 with "shutdown":"draining" from now on, while every request,
// /readyz included, is still served.
func (s *Server) StartDraining() { s.draining.Store(true) }

// handleReadyz serves GET /readyz: 200 when the provider's metadata is
// loaded and the session store answers, 503 otherwise or once rp is
// shutting down, with each check's state in a JSON body.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"provider": "ok", "store": "ok"}
	status := http.StatusOK
	if s.draining.Load() {
		checks["shutdown"] = "draining"
		status = http.StatusServiceUnavailable
	}
	if err := s.oidc.Ready(); err != nil {
		checks["provider"] = "not ready"
		status = http.StatusServiceUnavailable
	}
	if err := s.sessions.Ping(ctx); err != nil {
		checks["store"] = "unreachable"
		status = http.StatusServiceUnavailable
		s.log.Warn("readiness: session store unreachable", "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(checks)
}

// handleStatic serves the embedded stylesheet.
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeFileFS(w, r, templates.FS, "static/style.css")
}

// handleFavicon answers browsers' favicon request with no content, so it
// does not fill logs with 404s.
func (s *Server) handleFavicon(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.WriteHeader(http.StatusNoContent)
}
