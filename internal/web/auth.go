package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"

	"github.com/rp-project/rp/internal/origin"
	"github.com/rp-project/rp/internal/proxy"
)

// handleAuth serves GET /auth, forward-auth for nginx's auth_request,
// Traefik's ForwardAuth and Caddy's forward_auth: 200 with the identity
// headers when the browser's session is valid and the rules let the user
// reach the original URL; 403 when they do not; otherwise 401, or for a
// browser navigation a redirect into sign-in that comes back to the
// original URL. The original request is read from X-Forwarded-Method,
// -Proto, -Host and -Uri only when the request comes from a trusted proxy.
func (s *Server) handleAuth(w http.ResponseWriter, r *http.Request) {
	s.setSecurityHeaders(w.Header())
	method, returnTo, path, paramPath, fromProxy := s.forwardedRequest(r)
	if !proxy.SafePath(path) || (paramPath != "" && !proxy.SafePath(paramPath)) {
		s.renderError(w, r, http.StatusForbidden, problem{Title: "This address is not allowed",
			Message: "This address has . or .. parts, which are not let through. Check the address, or start again from the home page."})
		return
	}
	r2, err := s.sessions.Load(r)
	if err != nil {
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
		if err := s.sessions.Save(ctx, w); err != nil { // a refused refresh's logout
			s.fail(w, r, err)
			return
		}
		s.signInNeeded(w, r, method, r.Header, returnTo, r.URL.Query().Get("status") == "401")
		return
	}
	if s.rules.HasPathRules() && !fromProxy {
		// Without the original URL, rp cannot know which path rules apply.
		s.log.Error("forward-auth request without a trusted X-Forwarded-Uri while RP_PATH_RULES is set: refused; "+
			"set RP_TRUSTED_PROXIES to the proxy's address", "peer", r.RemoteAddr, "request_id", requestID(ctx))
		s.forbidden(w, r, l, "the request did not come through the proxy rp trusts")
		return
	}
	u := s.user(l)
	allowed, reason := s.rules.Allow(u, path)
	if allowed && paramPath != "" {
		allowed, reason = s.rules.Allow(u, paramPath)
	}
	if !allowed {
		s.forbidden(w, r, l, reason)
		return
	}
	id := identity(u)
	// Only to the proxy's own sub-request, which proved it with
	// RP_FORWARD_AUTH_SECRET (fromProxy includes the proof when the secret
	// is set): the browser can call /auth too (through the proxy's route
	// to rp, a load balancer passing its X-Forwarded-* headers, or in
	// proxy mode), and script on the app's pages must not read tokens
	// that rp keeps server-side.
	giveToken := s.passToken && fromProxy && s.fwdSecret != nil
	if giveToken {
		id.AccessToken = s.sessions.AccessToken(ctx)
	}
	if err := s.sessions.Save(ctx, w); err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	proxy.SetIdentity(h, id)
	// All four, empty when the claim is missing: Caddy's copy_headers
	// would otherwise hand the app its placeholder's text.
	for _, k := range []string{proxy.HeaderUser, proxy.HeaderEmail, proxy.HeaderPreferredUsername, proxy.HeaderGroups} {
		if _, ok := h[k]; !ok {
			h[k] = []string{""}
		}
	}
	if _, ok := h["Authorization"]; giveToken && !ok {
		h["Authorization"] = []string{""} // a session without a token, for the same reason
	}
	w.WriteHeader(http.StatusOK)
}

// forwardedRequest is the original request a forward-auth check is about:
// its method, the path and query to come back to after sign-in, and its
// decoded path for the rules (and paramPath, the path as Tomcat reads it
// when that differs; see proxy.ParamPath). fromProxy is false when the
// request did not come from a trusted proxy, did not prove it with
// RP_FORWARD_AUTH_SECRET when that is set, or came without a usable
// description; then the method is the request's own and the return path
// rp's home.
func (s *Server) forwardedRequest(r *http.Request) (method, returnTo, path, paramPath string, fromProxy bool) {
	method, returnTo, path = r.Method, s.home, "/"
	proven := s.forwardAuthProof(r)
	if !s.trusted.Contains(r.RemoteAddr) {
		if _, ok := r.Header["X-Forwarded-Uri"]; ok {
			s.log.Warn("forward-auth: X-Forwarded-* headers from a peer not in RP_TRUSTED_PROXIES are ignored",
				"peer", r.RemoteAddr, "request_id", requestID(r.Context()))
		}
		return method, returnTo, path, "", false
	}
	if s.fwdSecret != nil && !proven {
		// A load balancer in front of the proxy may pass a client's
		// X-Forwarded-* headers to rp's routes: only the proxy's own
		// sub-request knows the secret.
		if _, ok := r.Header["X-Forwarded-Uri"]; ok && r.Header[headerForwardAuthSecret] == nil {
			s.log.Warn("forward-auth: X-Forwarded-* headers without "+headerForwardAuthSecretName+" are ignored, and no token is sent; "+
				"if this is the proxy's request, make it send RP_FORWARD_AUTH_SECRET (see the snippets)",
				"peer", r.RemoteAddr, "request_id", requestID(r.Context()))
		}
		return method, returnTo, path, "", false
	}
	f, ok := proxy.ForwardedRequest(r.Header)
	if !ok {
		s.log.Warn("forward-auth: missing, repeated or malformed X-Forwarded-Method, -Proto, -Host or -Uri",
			"peer", r.RemoteAddr, "request_id", requestID(r.Context()))
		return method, returnTo, path, "", false
	}
	u, err := url.ParseRequestURI(f.URI)
	if err != nil {
		return method, returnTo, path, "", false
	}
	method, path = f.Method, u.Path
	if p, ok := proxy.ParamPath(u); ok {
		paramPath = p
	}
	if s.isOwnOrigin(f.Proto, f.Host) {
		returnTo = f.URI
	} else {
		s.log.Warn("forward-auth: the original URL is not on RP_BASE_URL's host; sign-in will return to rp's home",
			"host", f.Host, "request_id", requestID(r.Context()))
	}
	return method, returnTo, path, paramPath, true
}

// isOwnOrigin reports whether proto://host is rp's own origin.
func (s *Server) isOwnOrigin(proto, host string) bool {
	return origin.Normalize(proto+"://"+host) == s.origin
}

// The header that carries RP_FORWARD_AUTH_SECRET from the forward-auth
// proxy to /auth: as the snippets and logs spell it, and as Go's
// http.Header keys it.
const (
	headerForwardAuthSecretName = "X-RP-Forward-Auth-Secret"
	headerForwardAuthSecret     = "X-Rp-Forward-Auth-Secret"
)

// forwardAuthProof reports whether r carries RP_FORWARD_AUTH_SECRET,
// exactly once; false when none is set. The comparison takes the same
// time whatever was sent (digests of equal length, compared in constant
// time). A wrong secret, from any peer, is a security event: it is logged,
// never quoted.
func (s *Server) forwardAuthProof(r *http.Request) bool {
	sent, ok := r.Header[headerForwardAuthSecret]
	if !ok || s.fwdSecret == nil {
		return false
	}
	if len(sent) == 1 {
		sum := sha256.Sum256([]byte(sent[0]))
		if subtle.ConstantTimeCompare(sum[:], s.fwdSecret[:]) == 1 {
			return true
		}
	}
	s.log.Warn("forward-auth: wrong "+headerForwardAuthSecretName+"; the request is not believed to be the proxy's, and no token is sent",
		"peer", r.RemoteAddr, "values", len(sent), "request_id", requestID(r.Context()))
	return false
}

// logForwardAuthSetting warns at start when the access token cannot reach
// the app through forward auth: RP_PASS_ACCESS_TOKEN=true without
// RP_FORWARD_AUTH_SECRET. In proxy mode rp passes the token to the app
// itself, server-side, so there it is only a note.
func (s *Server) logForwardAuthSetting() {
	if !s.passToken || s.fwdSecret != nil {
		return
	}
	msg := "RP_PASS_ACCESS_TOKEN=true but RP_FORWARD_AUTH_SECRET is unset: " + s.prefix + "/auth never sends the access token; " +
		"set it, and make the proxy send it in " + headerForwardAuthSecretName + " (see the forward-auth snippets)"
	if s.upstream != nil {
		s.log.Info(msg + "; proxy mode passes the token to RP_UPSTREAM all the same")
		return
	}
	s.log.Warn(msg)
}
