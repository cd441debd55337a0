package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"strings"

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
	if !s.sameOrigin(w, r, logoutForm) {
		return
	}
	l, ok := s.sessions.Login(r.Context())
	if !ok {
		http.Redirect(w, r, s.route("/logged-out"), http.StatusSeeOther)
		return
	}
	if !s.formCSRF(w, r, logoutForm) {
		return
	}
	tokens, _, err := s.sessions.Tokens(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logoutAtProvider(w, r, l, tokens)
}

// formGuard names a state-changing form on its refusal pages.
type formGuard struct {
	name   string // "logout"
	button string // the button that sends it: "Log out"
	retry  string // the page with the form
}

var logoutForm = formGuard{name: "logout", button: "Log out", retry: "/logout"} // retry is under the prefix

func (g formGuard) refused() string { return strings.ToUpper(g.name[:1]) + g.name[1:] + " refused" }

// sameOrigin refuses a state-changing request from another site with a
// page offering retry. It reports whether the request may go on.
func (s *Server) sameOrigin(w http.ResponseWriter, r *http.Request, g formGuard) bool {
	if origin.Same(r, s.origin) {
		return true
	}
	s.log.Warn(g.name+" from another origin refused", "origin", r.Header.Get("Origin"), "request_id", requestID(r.Context()))
	s.renderError(w, r, http.StatusForbidden, problem{Title: g.refused(), Retry: g.retry,
		Message: "This " + g.name + " request came from another site, so nothing was done. Use the " + g.button + " button on this site."})
	return false
}

// formCSRF parses a bounded form and checks its CSRF token against the
// session's, refusing with a page otherwise.
func (s *Server) formCSRF(w http.ResponseWriter, r *http.Request, g formGuard) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err == nil && s.sessions.CheckCSRF(r.Context(), r.PostForm.Get("csrf_token")) {
		return true
	}
	s.log.Warn(g.name+" with a missing or wrong CSRF token refused", "request_id", requestID(r.Context()))
	s.renderError(w, r, http.StatusForbidden, problem{Title: g.refused(), Retry: g.retry,
		Message: "The " + g.name + " form had expired or was not sent from this site, so nothing was done. Use the " + g.button + " button again."})
	return false
}

// logoutAtProvider ends the current session (l's, holding tokens) in the
// store, revokes its refresh token, then sends the browser to the
// provider's end_session_endpoint, or to /logged-out when the provider has
// none.
func (s *Server) logoutAtProvider(w http.ResponseWriter, r *http.Request, l session.Login, tokens session.Tokens) {
	ctx := r.Context()
	// A current id_token_hint: providers may refuse an expired one.
	tokens = s.currentIDToken(ctx, tokens)
	if _, err := s.sessions.SignOut(ctx); err != nil {
		s.fail(w, r, err)
		return
	}
	s.revoke(ctx, tokens)
	state := rand.Text()
	endURL, viaProvider := s.oidc.EndSessionURL(tokens.IDToken, s.routeURL("/logged-out"), state)
	notice := session.LogoutNotice{Provider: viaProvider}
	if viaProvider {
		notice.State = state
	}
	if err := s.sessions.PutLogoutNotice(w, notice); err != nil {
		s.fail(w, r, err)
		return
	}
	if viaProvider {
		s.metrics.Logout("rp_initiated", 1)
	} else {
		s.metrics.Logout("local_only", 1)
	}
	s.log.Info("signed out", "sub", l.Subject, "at_provider", viaProvider, "request_id", requestID(ctx))
	if !viaProvider {
		endURL = s.route("/logged-out")
	}
	http.Redirect(w, r, endURL, http.StatusSeeOther)
}

// revoke revokes the refresh token of a session that has ended (RFC 7009),
// at logout or after a refused refresh, when the provider has a
// revocation endpoint: a refresh token kept by anyone must not outlive the
// session (Keycloak's offline tokens outlive its SSO session otherwise). A
// failure is logged, not shown: the session has ended here.
func (s *Server) revoke(ctx context.Context, t session.Tokens) {
	if t.RefreshToken == "" || !s.oidc.CanRevoke() {
		return
	}
	if err := s.oidc.Revoke(context.WithoutCancel(ctx), t.RefreshToken, "refresh_token"); err != nil {
		s.log.Warn("revoking the refresh token of an ended session failed", "err", err, "request_id", requestID(ctx))
		return
	}
	s.log.Debug("refresh token revoked", "request_id", requestID(ctx))
}

// handleLoggedOut serves GET /logged-out, the post_logout_redirect_uri. It
// says what happened; it never ends a session itself.
func (s *Server) handleLoggedOut(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	notice, had := s.sessions.TakeLogoutNotice(w, r)
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
