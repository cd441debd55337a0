package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// handleHome serves GET /: a sign-in button, or who is signed in.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "home", s.data(r.Context(), nil))
}

type claimRow struct{ Name, Value string }

// hiddenClaim reports protocol values that are not facts about the user.
func hiddenClaim(name string) bool {
	return name == "nonce" || name == "at_hash" || name == "c_hash"
}

type profileData struct {
	SignedIn   string // "5 minutes ago"
	SignedInAt string // RFC 1123, UTC
	Ends       string // in words: "in 11 hours, or after 1 hour without use"
	EndsBy     string // the lifetime's end, RFC 1123, UTC
	Claims     []claimRow
}

// handleProfile serves GET /profile, the protected page.
func (s *Server) handleProfile(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	l, ok := s.requireLogin(w, r)
	if !ok {
		return
	}
	var claims map[string]json.RawMessage
	_ = json.Unmarshal(l.Claims, &claims)
	rows := make([]claimRow, 0, len(claims))
	for k, v := range claims {
		if hiddenClaim(k) {
			continue
		}
		rows = append(rows, claimRow{Name: k, Value: string(v)})
	}
	slices.SortFunc(rows, func(a, b claimRow) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	now, end := s.now(), s.sessions.LifetimeEnd(l)
	pd := profileData{
		SignedIn:   agoInWords(now, l.SignedInAt),
		SignedInAt: l.SignedInAt.UTC().Format(time.RFC1123),
		Ends:       sessionEnds(now, end, s.idleTimeout),
		EndsBy:     end.UTC().Format(time.RFC1123),
		Claims:     rows,
	}
	d := s.data(ctx, pd)
	d.CSRF = s.sessions.CSRFToken(ctx)
	s.render(w, r, http.StatusOK, "profile", d)
}

// handleNotFound answers every unknown path.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, http.StatusNotFound, problem{Title: "Page not found", Message: "There is no page at this address."})
}
