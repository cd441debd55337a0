package web

import (
	"net/http"
	"net/url"
)

var sessionsForm = formGuard{name: "sign-out", button: "Log out", retry: "/sessions"}

type sessionRow struct {
	ID          string
	Browser     string // in words: "Firefox on Android"
	SignedIn    string // "2 hours ago"
	SignedInAt  string // "27 Nov 2026, 12:04 UTC"
	SignedInISO string
	LastSeen    string // "just now"
	Current     bool
}

// handleSessions serves GET /sessions: the signed-in user's rp sessions,
// on every instance, with a button to sign each out and one for all.
func (s *Server) handleSessions(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if _, ok := s.requireLogin(w, r); !ok {
		return
	}
	list, err := s.sessions.Sessions(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.now()
	rows := make([]sessionRow, len(list))
	for i, si := range list {
		rows[i] = sessionRow{ID: si.ID, Browser: si.Browser, Current: si.Current,
			SignedIn: seenAgo(now, si.SignedInAt), SignedInAt: dateInWords(si.SignedInAt), SignedInISO: isoTime(si.SignedInAt),
			LastSeen: seenAgo(now, si.LastSeen)}
		if rows[i].Browser == "" {
			rows[i].Browser = "Unknown browser"
		}
	}
	d := s.data(ctx, rows)
	d.CSRF = s.sessions.CSRFToken(ctx)
	s.render(w, r, http.StatusOK, "sessions", d)
}

// handleSessionsEnd serves POST /sessions/end (CSRF token, same origin):
// session=ID ends that one of the user's other sessions; all=1 ends every
// rp session of the user, then logs the current one out at the provider.
// Only sessions of the signed-in user (same issuer and subject) are ever
// touched.
func (s *Server) handleSessionsEnd(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.sameOrigin(w, r, sessionsForm) {
		return
	}
	l, ok := s.sessions.Login(ctx)
	if !ok {
		http.Redirect(w, r, s.route("/login?return_to="+url.QueryEscape(s.route("/sessions"))), http.StatusSeeOther)
		return
	}
	if !s.formCSRF(w, r, sessionsForm) {
		return
	}
	if r.PostForm.Get("all") != "" {
		// The current session's tokens before they go with the others:
		// the logout at the provider needs its ID token.
		tokens, _, err := s.sessions.Tokens(ctx)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		n, err := s.sessions.EndSessions(ctx, l.Issuer, l.Subject, "")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.metrics.Logout("your_sessions", n)
		s.log.Info("signed out everywhere", "sub", l.Subject, "ended", n, "request_id", requestID(ctx))
		s.logoutAtProvider(w, r, l, tokens)
		return
	}
	ended, err := s.sessions.EndSession(ctx, r.PostForm.Get("session"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ended {
		s.metrics.Logout("your_sessions", 1)
	}
	s.log.Info("signed out one session", "sub", l.Subject, "ended", ended, "request_id", requestID(ctx))
	http.Redirect(w, r, s.route("/sessions"), http.StatusSeeOther)
}
