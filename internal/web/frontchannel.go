package web

import (
	"net/http"
	"slices"
	"strings"
)

// handleFrontchannelLogout serves GET /frontchannel-logout?iss=..&sid=..,
// Front-Channel Logout 1.0. The provider loads it in a hidden iframe of its
// logout page, where browsers often send no cookie, so the sessions are
// found by iss and sid in the index. Both are required and iss must be the
// issuer: without them any site could frame the URL and sign its visitors
// out. The page may be framed by the provider's origins only. Anyone who
// knows a session's sid can still end it here (the spec has no proof of
// origin), so RP_FRONTCHANNEL_LOGOUT=false takes the route away.
func (s *Server) handleFrontchannelLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	h := w.Header()
	h.Set("Content-Security-Policy", s.frameableCSP())
	h.Del("X-Frame-Options") // frame-ancestors says who may frame it
	h.Set("Cache-Control", "no-store")

	q := r.URL.Query()
	iss, sid := q["iss"], q["sid"]
	if len(iss) != 1 || len(sid) != 1 || iss[0] == "" || sid[0] == "" {
		s.log.Warn("front-channel logout without exactly one iss and sid; nothing done", "request_id", requestID(ctx))
		s.renderError(w, r, http.StatusBadRequest, problem{Title: "Logout request incomplete",
			Message: "This logout request did not name the sign-in service and its session (iss and sid), so nothing was done. You can close this page."})
		return
	}
	if iss[0] != s.oidc.Issuer() {
		s.log.Warn("front-channel logout for another issuer; nothing done", "request_id", requestID(ctx))
		s.renderError(w, r, http.StatusBadRequest, problem{Title: "Logout request refused",
			Message: "This logout request came from another sign-in service, so nothing was done. You can close this page."})
		return
	}
	n, err := s.sessions.EndSessions(ctx, iss[0], "", sid[0])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.Logout("frontchannel", n)
	s.log.Info("front-channel logout", "ended", n, "request_id", requestID(ctx))
	s.render(w, r, http.StatusOK, "frontchannel", pageData{RequestID: requestID(ctx)})
}

// logFrontchannelSetting says at start that GET /frontchannel-logout is
// off, so that an admin whose provider still sends front-channel logouts
// sees why sessions outlive a logout at the provider.
func (s *Server) logFrontchannelSetting() {
	if !s.frontLogout {
		s.log.Info("front-channel logout is off (RP_FRONTCHANNEL_LOGOUT=false): " + s.prefix +
			"/frontchannel-logout answers 404; logouts at the provider reach rp by back-channel only")
	}
}

// frameableCSP is rp's policy with frame-ancestors naming the provider's
// origins: the issuer's and, when it differs, the end-session endpoint's.
func (s *Server) frameableCSP() string {
	var origins []string
	add := func(raw string) {
		if o := originOf(raw); o != "" && !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	add(s.oidc.Issuer())
	if md, err := s.oidc.Metadata(); err == nil {
		add(md.EndSessionEndpoint)
	}
	ancestors := "'none'"
	if len(origins) > 0 {
		ancestors = strings.Join(origins, " ")
	}
	return strings.Replace(s.contentSecurityPolicy(), "frame-ancestors 'none'", "frame-ancestors "+ancestors, 1)
}
