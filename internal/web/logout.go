package web

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"

	"github.com/rp-project/rp/internal/origin"
	"github.com/rp-project/rp/internal/session"
)

// maxFormBytes bounds the logout form's body.
const maxFormBytes = 16 << 10

// handleLogoutConfirm serves GET /logout: a confirmation page whose form
// posts to /logout. A GET never logs out by itself.
func (s *Server) handleLogoutConfirm(w http.ResponseWriter, r *http.Request) {
	d := s.data(r.Context(), nil)
	if d.User != nil {
		d.CSRF = s.sessions.CSRFToken(r.Context())
	}
	s.render(w, r, http.StatusOK, "logout", d)
}

// handleLogout serves POST /logout, RP-initiated logout: it refuses other
// sites, checks the CSRF token, destroys the session in the store, then
// sends the browser to the provider's end_session_endpoint.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !origin.Same(r, s.origin) {
		s.log.Warn("logout from another origin refused", "origin", r.Header.Get("Origin"), "request_id", requestID(ctx))
		s.renderError(w, r, http.StatusForbidden, problem{Title: "Logout refused",
			Message: "This logout request came from another site and was refused. Use the Log out button on this site.", Retry: "/logout"})
		return
	}
	l, ok := s.sessions.Login(ctx)
	if !ok {
		http.Redirect(w, r, "/logged-out", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || !s.sessions.CheckCSRF(ctx, r.PostForm.Get("csrf_token")) {
		s.log.Warn("logout with a missing or wrong CSRF token refused", "request_id", requestID(ctx))
		s.renderError(w, r, http.StatusForbidden, problem{Title: "Logout refused",
			Message: "The logout form had expired or was not sent from this site. Please use the Log out button again.", Retry: "/logout"})
		return
	}

	if _, err := s.sessions.SignOut(ctx); err != nil {
		s.fail(w, r, err)
		return
	}
	state := rand.Text()
	endURL, viaProvider := s.oidc.EndSessionURL(l.IDToken, s.baseURL+"/logged-out", state)
	notice := session.LogoutNotice{Provider: viaProvider}
	if viaProvider {
		notice.State = state
	}
	if err := s.sessions.PutLogoutNotice(ctx, notice); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("signed out", "sub", l.Subject, "at_provider", viaProvider, "request_id", requestID(ctx))
	if !viaProvider {
		endURL = "/logged-out"
	}
	http.Redirect(w, r, endURL, http.StatusSeeOther)
}

// handleLoggedOut serves GET /logged-out, the post_logout_redirect_uri. It
// says what happened; it never ends a session itself.
func (s *Server) handleLoggedOut(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	notice, had, err := s.sessions.TakeLogoutNotice(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	outcome := "none"
	state := r.URL.Query().Get("state")
	switch {
	case had && notice.Provider && notice.State != "" &&
		subtle.ConstantTimeCompare([]byte(notice.State), []byte(state)) == 1:
		outcome = "provider"
	case had && !notice.Provider:
		outcome = "local"
	case had:
		s.log.Warn("logged-out page reached without the logout's state", "request_id", requestID(ctx))
		outcome = "unconfirmed"
	default:
		if _, ok := s.sessions.Login(ctx); ok {
			outcome = "signed-in"
		}
	}
	s.render(w, r, http.StatusOK, "logged_out", s.data(ctx, outcome))
}
