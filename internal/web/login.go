package web

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"

	"github.com/rp-project/rp/internal/oidc"
	"github.com/rp-project/rp/internal/session"
)

// handleLogin serves GET /login: it seals a fresh state, nonce and PKCE
// verifier into a cookie of this browser and sends it to the provider. It
// writes nothing to the store: a visitor who has not signed in cannot fill
// it.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	returnTo := s.safeReturnTo(r.URL.Query().Get("return_to"))
	if _, ok := s.sessions.Login(ctx); ok {
		http.Redirect(w, r, returnTo, http.StatusSeeOther)
		return
	}
	s.startSignIn(w, r, returnTo, false)
}

// startSignIn seals a fresh authorization request into a cookie of this
// browser and sends the browser to the provider; withoutOffline leaves out
// the offline_access rp adds (see oidc.ErrOfflineRefused).
func (s *Server) startSignIn(w http.ResponseWriter, r *http.Request, returnTo string, withoutOffline bool) {
	ctx := r.Context()
	a := oidc.NewAuthRequest()
	a.WithoutOffline = withoutOffline
	authURL, err := s.oidc.AuthCodeURL(a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := session.PendingAuth{State: a.State, Nonce: a.Nonce, Verifier: a.Verifier, ReturnTo: returnTo, Created: s.now(),
		WithoutOffline: withoutOffline}
	err = s.sessions.AddPending(w, r, p)
	if errors.Is(err, session.ErrPendingTooLarge) {
		// The sign-in still works; it comes back home instead.
		s.log.Info("return path too long to keep through sign-in; the user returns home", "bytes", len(returnTo), "request_id", requestID(ctx))
		p.ReturnTo = s.home
		err = s.sessions.AddPending(w, r, p)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// handleCallback serves GET /callback, the redirect_uri.
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	for _, name := range []string{"state", "code", "iss", "error"} {
		if len(q[name]) > 1 {
			s.metrics.SignIn("failure", "malformed")
			s.renderError(w, r, http.StatusBadRequest, problem{Title: "Sign-in failed",
				Message: "The answer from your organisation's sign-in service was garbled, so you are not signed in. Start again.",
				Retry:   "/login", Action: "Start again"})
			return
		}
	}

	// The pending request is single-use in this browser: its cookie is
	// deleted whatever happens next. Nothing is read from the store or
	// written to it until the provider has signed the user in.
	pending, taken := s.sessions.TakePending(w, r, q.Get("state"))
	switch taken {
	case session.PendingTaken:
	case session.PendingBad:
		s.log.Warn("callback with a sign-in cookie that could not be opened (tampered with, expired, or sealed with a secret no longer configured)",
			"request_id", requestID(ctx))
		s.signInExpired(w, r)
		return
	case session.PendingReplayed:
		s.log.Warn("callback replayed: a copy of a sign-in cookie already used here", "request_id", requestID(ctx))
		s.signInExpired(w, r)
		return
	default:
		// Also for error responses: an unsolicited one is not shown, so
		// rp's pages cannot carry text that nobody's sign-in produced.
		s.log.Warn("callback with an unknown, expired or used state", "request_id", requestID(ctx))
		s.signInExpired(w, r)
		return
	}
	// RFC 9207 applies to error responses too.
	if err := s.oidc.CheckIssuerParam(q); err != nil {
		s.signInFailed(w, r, err)
		return
	}
	if e := q.Get("error"); e != "" {
		s.metrics.SignIn("failure", "provider_error")
		s.providerError(w, r, e, q.Get("error_description"))
		return
	}
	code := q.Get("code")
	if code == "" {
		s.metrics.SignIn("failure", "malformed")
		s.renderError(w, r, http.StatusBadRequest, problem{Title: "Sign-in failed",
			Message: "The answer from your organisation's sign-in service was incomplete, so you are not signed in. Start again.",
			Retry:   "/login", Action: "Start again"})
		return
	}
	id, err := s.oidc.Exchange(ctx, code, oidc.AuthRequest{State: pending.State, Nonce: pending.Nonce, Verifier: pending.Verifier,
		WithoutOffline: pending.WithoutOffline})
	if errors.Is(err, oidc.ErrOfflineRefused) {
		// Keycloak refuses offline tokens to a user without the
		// offline_access role, after the password: once per sign-in, rp
		// asks again without offline_access, which the provider's fresh
		// session lets through without another password.
		s.metrics.SignIn("failure", "offline_refused")
		s.log.Warn("the provider refused offline_access to this user or client; signing in again without it. "+
			"Grant the user the offline_access role (Keycloak: the realm's default roles), or set RP_OFFLINE_ACCESS=false",
			"err", err, "request_id", requestID(ctx))
		s.startSignIn(w, r, pending.ReturnTo, true)
		return
	}
	if err != nil {
		if errors.Is(err, oidc.ErrRejected) {
			s.metrics.Rejected("id_token", "rejected")
		}
		s.signInFailed(w, r, err)
		return
	}
	// The state is claimed only now, across instances: a replayed callback
	// cannot sign in twice, and only a user the provider has signed in
	// makes rp write to the store.
	first, err := s.sessions.ClaimState(ctx, pending)
	if err != nil {
		s.signInFailed(w, r, err)
		return
	}
	if !first {
		s.log.Warn("callback replayed: its state was already used", "sub", id.Subject, "request_id", requestID(ctx))
		s.signInExpired(w, r)
		return
	}
	err = s.sessions.SignIn(ctx, session.Login{
		Issuer: id.Issuer, Subject: id.Subject, SID: id.SessionID, Claims: id.Claims,
		SignedInAt: s.now(), Browser: describeBrowser(r.UserAgent()),
	}, session.Tokens{IDToken: id.IDToken, AccessToken: s.keptAccessToken(id.AccessToken), RefreshToken: id.RefreshToken,
		Expiry: id.Expiry, RefreshAt: refreshAt(s.now(), id.Expiry)})
	if err != nil {
		s.signInFailed(w, r, err)
		return
	}
	s.metrics.SignIn("success", "")
	s.log.Info("signed in", "sub", id.Subject, "has_sid", id.SessionID != "", "refresh_token", id.RefreshToken != "", "request_id", requestID(ctx))
	http.Redirect(w, r, pending.ReturnTo, http.StatusSeeOther)
}

// signInExpired answers a callback that matches no sign-in in flight of
// this browser.
func (s *Server) signInExpired(w http.ResponseWriter, r *http.Request) {
	s.metrics.SignIn("failure", "unknown_state")
	s.renderError(w, r, http.StatusBadRequest, problem{Title: "Sign-in expired",
		Message: "Your sign-in took too long, was already used, or was started in another browser. Start again from " +
			s.baseURL + ": a sign-in started at another address cannot finish here.",
		Retry: "/login", Action: "Start again"})
}

// signInFailed counts a failed callback by the class of err, then shows it.
func (s *Server) signInFailed(w http.ResponseWriter, r *http.Request, err error) {
	reason := "internal"
	switch {
	case errors.Is(err, oidc.ErrNotReady):
		reason = "provider_not_ready"
	case errors.Is(err, oidc.ErrUnavailable):
		reason = "provider_unavailable"
	case errors.Is(err, oidc.ErrRejected):
		reason = "rejected"
	case errors.Is(err, session.ErrStore):
		reason = "store"
	}
	s.metrics.SignIn("failure", reason)
	s.fail(w, r, err)
}

// errorCode is the form of OAuth error codes (RFC 6749 allows a little
// more; providers use this).
var errorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

// providerError shows an error the provider sent back, such as
// access_denied, with its text escaped by the template.
func (s *Server) providerError(w http.ResponseWriter, r *http.Request, code, description string) {
	if !errorCode.MatchString(code) {
		code = "invalid"
	}
	s.log.Warn("provider returned an error", "error", code, "request_id", requestID(r.Context()))
	status := http.StatusBadRequest
	p := problem{Title: "Sign-in did not complete", Retry: "/login", Action: "Start again",
		Message: "Your organisation's sign-in service did not sign you in (" + code + "). Start again; if it keeps happening, tell your administrator."}
	switch code {
	case "access_denied":
		status = http.StatusForbidden
		p.Title = "Sign-in was cancelled or refused"
		p.Message = "Your organisation's sign-in service did not let you in. If you cancelled, start again; if you need access, ask your administrator."
	case "login_required", "interaction_required", "consent_required":
		p.Message = "Your organisation's sign-in service needs you to sign in again. Start again."
	case "server_error", "temporarily_unavailable":
		status = http.StatusBadGateway
		p.Action = "Try again"
		p.Message = "Your organisation's sign-in service had a problem. Try again in a minute."
	}
	if len(description) > 300 {
		description = description[:300] + "…"
	}
	p.Detail = description
	s.renderError(w, r, status, p)
}

// requireLogin sends a browser without a session into sign-in, coming back
// to the page it asked for. Like a proxied request, it refreshes the tokens
// when they are due: a refresh the provider refuses is often the only news
// of a logout there (Keycloak sends none when an admin disables a user),
// and it must end the session on rp's own pages too.
func (s *Server) requireLogin(w http.ResponseWriter, r *http.Request) (session.Login, bool) {
	ctx := r.Context()
	l, ok := s.sessions.Login(ctx)
	if ok && s.sessions.RefreshDue(ctx) {
		l, ok = s.refresh(r, l)
	}
	if !ok {
		http.Redirect(w, r, s.route("/login?return_to="+url.QueryEscape(r.URL.RequestURI())), http.StatusSeeOther)
	}
	return l, ok
}
