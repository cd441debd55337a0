package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
	SignedIn    string // "5 minutes ago"
	SignedInAt  string // "27 Nov 2026, 12:04 UTC"
	SignedInISO string // for <time datetime>
	Ends        string // in words: "in 11 hours, or after 1 hour without use"
	EndsBy      string // the lifetime's end, like SignedInAt
	EndsByISO   string
	Claims      []claimRow
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
		rows = append(rows, claimRow{Name: k, Value: claimValue(k, v)})
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
		SignedIn:    agoInWords(now, l.SignedInAt),
		SignedInAt:  dateInWords(l.SignedInAt),
		SignedInISO: isoTime(l.SignedInAt),
		Ends:        sessionEnds(now, end, s.idleTimeout),
		EndsBy:      dateInWords(end),
		EndsByISO:   isoTime(end),
		Claims:      rows,
	}
	d := s.data(ctx, pd)
	d.CSRF = s.sessions.CSRFToken(ctx)
	s.render(w, r, http.StatusOK, "profile", d)
}

// timeClaims hold seconds since 1970 (RFC 7519, OpenID Connect Core).
var timeClaims = map[string]bool{"exp": true, "iat": true, "nbf": true, "auth_time": true, "updated_at": true}

// claimValue is a claim's JSON value as a person reads it: a string without
// quotes, a list of strings separated by commas, a time claim with its
// date; anything else as compact JSON.
func claimValue(name string, v json.RawMessage) string {
	var str string
	if json.Unmarshal(v, &str) == nil {
		return str
	}
	var strs []string
	if json.Unmarshal(v, &strs) == nil {
		if len(strs) == 0 {
			return "(none)"
		}
		return strings.Join(strs, ", ")
	}
	var secs int64
	if timeClaims[name] && json.Unmarshal(v, &secs) == nil {
		return strconv.FormatInt(secs, 10) + " (" + dateInWords(time.Unix(secs, 0)) + ")"
	}
	var compact bytes.Buffer
	if json.Compact(&compact, v) == nil {
		return compact.String()
	}
	return string(v)
}

// handleNotFound answers every unknown path.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, http.StatusNotFound, problem{Title: "Page not found",
		Message: "There is no page at this address. Check the address, or start again from the home page."})
}
