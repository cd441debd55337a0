package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/rp-project/rp/internal/proxy"
	"github.com/rp-project/rp/internal/session"
)

// handleProxy serves every request outside rp's routes in proxy mode: one
// session read, a refresh when one is due, the access rules, then the app
// with the identity headers. The session is saved (when the request
// changed it, which is rare) before the app answers.
func (s *Server) handleProxy(w http.ResponseWriter, r *http.Request) {
	paramPath, hasParamPath := proxy.ParamPath(r.URL)
	if !proxy.SafePath(r.URL.Path) || (hasParamPath && !proxy.SafePath(paramPath)) {
		s.ownError(w, r, http.StatusBadRequest, problem{Title: "This address is not allowed",
			Message: "This address has . or .. parts, which are not passed on. Check the address, or start again from the home page."})
		return
	}
	r2, err := s.sessions.Load(r)
	if err != nil {
		s.setSecurityHeaders(w.Header())
		s.fail(w, r, err)
		return
	}
	r = r2
	ctx := r.Context()
	l, ok := s.sessions.Login(ctx)
	if ok && s.sessions.RefreshDue(ctx) {
		l, ok = s.refresh(r, l)
	}
	if !ok {
		if err := s.sessions.Save(ctx, w); err != nil {
			s.setSecurityHeaders(w.Header())
			s.fail(w, r, err)
			return
		}
		s.signInNeeded(w, r, r.Method, r.Header, r.URL.RequestURI(), false)
		return
	}
	u := s.user(l)
	allowed, reason := s.rules.Allow(u, r.URL.Path)
	if allowed && hasParamPath {
		allowed, reason = s.rules.Allow(u, paramPath)
	}
	if !allowed {
		s.forbidden(w, r, l, reason)
		return
	}
	id := identity(u)
	if s.passToken {
		id.AccessToken = s.sessions.AccessToken(ctx)
	}
	if err := s.sessions.Save(ctx, w); err != nil {
		s.setSecurityHeaders(w.Header())
		s.fail(w, r, err)
		return
	}
	s.upstream.Serve(w, r, id)
}

// signInNeeded answers a request without a valid session: a browser
// navigation goes to sign-in and comes back to returnTo (a path on rp's
// origin); anything else gets 401 and never a redirect it could not
// follow. With asStatus401 (nginx's auth_request passes only 2xx, 401 and
// 403 on), a navigation gets 401 too, with the sign-in URL in Location.
func (s *Server) signInNeeded(w http.ResponseWriter, r *http.Request, method string, h http.Header, returnTo string, asStatus401 bool) {
	s.setSecurityHeaders(w.Header())
	login := s.routeURL("/login?return_to=" + url.QueryEscape(s.safeReturnTo(returnTo)))
	if proxy.IsNavigation(method, h) {
		w.Header().Set("Location", login)
		if !asStatus401 {
			w.WriteHeader(http.StatusFound)
			return
		}
	}
	w.Header().Set("WWW-Authenticate", `Cookie realm="`+s.origin+`", form-action="`+s.route("/login")+
		`", cookie-name="`+s.sessions.CookieName()+`"`)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte("Sign-in required.\n"))
}

// identity is what the app is told of u: no email the provider says it
// has not verified.
func identity(u proxy.User) proxy.Identity {
	id := u.Identity
	if u.EmailVerified != nil && !*u.EmailVerified {
		id.Email = ""
	}
	return id
}

type forbiddenData struct{ Reason string }

// forbidden answers a signed-in user whom the access rules keep out: who
// they are signed in as, and a way to sign out.
func (s *Server) forbidden(w http.ResponseWriter, r *http.Request, l session.Login, reason string) {
	s.log.Info("access refused by the rules", "sub", l.Subject, "path", r.URL.Path, "reason", reason,
		"request_id", requestID(r.Context()))
	s.setSecurityHeaders(w.Header())
	ctx := r.Context()
	d := s.data(ctx, forbiddenData{Reason: reason})
	d.CSRF = s.sessions.CSRFToken(ctx)
	if err := s.sessions.Save(ctx, w); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusForbidden, "forbidden", d)
}

// ownError renders one of rp's error pages in the app's place.
func (s *Server) ownError(w http.ResponseWriter, r *http.Request, status int, p problem) {
	s.setSecurityHeaders(w.Header())
	s.renderError(w, r, status, p)
}

// upstreamError is the proxy's error page: the app is down (502) or slow
// (504).
func (s *Server) upstreamError(w http.ResponseWriter, r *http.Request, status int, err error) {
	s.log.Warn("the app did not answer", "status", status, "err", err, "path", r.URL.Path, "request_id", requestID(r.Context()))
	p := problem{Title: "The application is not answering",
		Message: "The application behind this sign-in could not be reached. Try again in a minute."}
	if status == http.StatusGatewayTimeout {
		p.Title = "The application is too slow"
		p.Message = "The application behind this sign-in did not answer in time. Try again in a minute."
	}
	p.Detail = ""
	w.Header().Del("Content-Length")
	w.Header().Set("Retry-After", strconv.Itoa(5))
	s.ownError(w, r, status, p)
}
