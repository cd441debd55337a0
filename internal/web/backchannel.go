package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/rp-project/rp/internal/oidc"
)

// maxLogoutBody bounds a back-channel request's body: a logout token is a
// few kilobytes.
const maxLogoutBody = 64 << 10

// handleBackchannelLogout serves POST /backchannel-logout, Back-Channel
// Logout 1.0: the provider posts a signed logout token, and rp ends every
// session it names, on every instance sharing the store. It is the one POST
// route without a cookie, CSRF token or Origin check: the token's signature
// is the authentication. It answers exactly 200 on success (not 204, which
// conformance suites refuse) and 400 with an OAuth error body for a bad
// request or token; a store or key outage is 503, so that the provider's
// logs tell it from a refused token. A token naming a key rp may not fetch
// yet (forged tokens may have spent the refreshes) is 503 with
// Retry-After: it may be genuine, and 400 would be final.
func (s *Server) handleBackchannelLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutBody)
	if err := r.ParseForm(); err != nil {
		s.logoutError(w, r, http.StatusBadRequest, "invalid_request", "the body is not an application/x-www-form-urlencoded form of at most 64 KiB", err)
		return
	}
	// From the body only: a token in the URL would end up in logs.
	tokens := r.PostForm["logout_token"]
	if len(tokens) != 1 || tokens[0] == "" {
		s.logoutError(w, r, http.StatusBadRequest, "invalid_request", "the form must carry exactly one logout_token", nil)
		return
	}
	lt, err := s.oidc.VerifyLogoutToken(ctx, tokens[0])
	if err != nil {
		var te *oidc.TokenError
		if errors.As(err, &te) {
			s.metrics.Rejected("logout_token", te.Reason)
			s.logoutError(w, r, http.StatusBadRequest, "invalid_request", "invalid logout token: "+te.Reason, err)
		} else { // the provider's metadata or keys are not available
			var ke *oidc.KeysError
			if errors.As(err, &ke) {
				w.Header().Set("Retry-After", strconv.Itoa(int(ke.RetryAfter.Round(time.Second)/time.Second)))
			}
			s.logoutError(w, r, http.StatusServiceUnavailable, "temporarily_unavailable", "the provider's signing keys cannot be loaded right now", err)
		}
		return
	}
	// A token is accepted once, on any instance: its jti is claimed in the
	// shared store until the token would be refused as too old anyway.
	first, err := s.sessions.Claim(ctx, "jti", lt.Issuer+"\x00"+lt.ID, lt.RememberUntil)
	if err != nil {
		s.logoutError(w, r, http.StatusServiceUnavailable, "temporarily_unavailable", "sessions cannot be reached right now", err)
		return
	}
	if !first {
		s.metrics.Rejected("logout_token", "jti already used")
		s.logoutError(w, r, http.StatusBadRequest, "invalid_request", "invalid logout token: this jti was already used", errors.New("replayed jti"))
		return
	}
	n, err := s.sessions.EndSessions(ctx, lt.Issuer, lt.Subject, lt.SessionID)
	if err != nil {
		// Nothing may have ended: let the provider's retry through.
		if rerr := s.sessions.Release(ctx, "jti", lt.Issuer+"\x00"+lt.ID); rerr != nil {
			s.log.Error("a failed back-channel logout's jti stays claimed; the provider's retry will be refused", "err", rerr, "request_id", requestID(ctx))
		}
		s.logoutError(w, r, http.StatusServiceUnavailable, "temporarily_unavailable", "sessions cannot be reached right now", err)
		return
	}
	s.metrics.Logout("backchannel", n)
	s.log.Info("back-channel logout", "ended", n, "by_sid", lt.SessionID != "", "by_sub", lt.Subject != "", "request_id", requestID(ctx))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// handleBackchannelMethod answers every method but POST on
// /backchannel-logout.
func (s *Server) handleBackchannelMethod(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	s.logoutError(w, r, http.StatusMethodNotAllowed, "invalid_request", "use POST with a logout_token", nil)
}

// logoutError answers a back-channel request with an OAuth error body
// (RFC 6749 5.2 shape). description never quotes the token; cause goes to
// the log only.
func (s *Server) logoutError(w http.ResponseWriter, r *http.Request, status int, code, description string, cause error) {
	attrs := []any{"status", status, "reason", description, "request_id", requestID(r.Context())}
	if cause != nil {
		attrs = append(attrs, "err", cause)
	}
	switch {
	case status < 500:
		s.log.Warn("back-channel logout refused", attrs...)
	case errors.Is(cause, oidc.ErrKeysThrottled):
		// Most likely forged tokens with made-up kids, not an outage.
		s.log.Warn("back-channel logout deferred", attrs...)
	default:
		s.log.Error("back-channel logout failed", attrs...)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}
