package session

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rp-project/rp/internal/sealed"
)

// PendingLifetime bounds how long a started sign-in may take.
const PendingLifetime = 10 * time.Minute

// maxPending caps sign-ins in flight per browser (several tabs), and
// maxPendingBytes the bytes their cookies add to every request to rp's
// host, so that the Cookie header stays well within what proxies accept
// (nginx's default is 8 KiB a line). The oldest give way to a new one.
const (
	maxPending      = 5
	maxPendingBytes = 6 << 10
	// maxPendingCookie is the most one sign-in's cookie may take, name
	// and value: browsers keep cookies of up to 4096 bytes.
	maxPendingCookie = 4000
	// maxPendingSeen bounds how many sign-in cookies a /login looks at
	// and deletes: a browser holds at most maxPending, and a request
	// carrying thousands must not get thousands of deletions back.
	maxPendingSeen = 16
)

// ErrPendingTooLarge is returned by AddPending when a sign-in would not fit
// in one cookie (a very long return path); start it again with a shorter
// one.
var ErrPendingTooLarge = errors.New("session: the sign-in does not fit in a cookie")

// Purposes of sealed cookies: a value sealed for one is refused for the
// other.
const (
	purposePending = "rp:signin"
	purposeLogout  = "rp:logout"
)

// A sign-in in flight and the logout notice live in the browser, sealed
// (encrypted and authenticated) with the cookie keys, never in the shared
// store: a browser that has not signed in writes nothing there, so
// anonymous traffic cannot fill it. Each sign-in has a cookie of its own,
// named after its state, so that several tabs can sign in at once.
//
//	<session cookie>_signin_<state>   a PendingAuth, until PendingLifetime
//	<session cookie>_logout           a LogoutNotice, until PendingLifetime
//
// Every cookie named after the session cookie and "_" is rp's: in proxy
// mode none reaches the app, and the app can set none (see internal/proxy).

func (m *Manager) pendingPrefix() string { return m.scs.Cookie.Name + "_signin_" }
func (m *Manager) logoutCookie() string  { return m.scs.Cookie.Name + "_logout" }

// browserCookie is a cookie rp sets for its own use: host-only, for every
// path (as __Host- requires), never readable by script, and sent on the
// provider's redirect back to rp (Lax).
func (m *Manager) browserCookie(name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", Secure: m.scs.Cookie.Secure,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge / time.Second)}
	if maxAge <= 0 {
		c.Value, c.MaxAge = "", -1
	}
	return c
}

// validState reports whether a state can name a cookie: rp's states are
// base32 (rand.Text), and anything else cannot be one of them.
func validState(state string) bool {
	if state == "" || len(state) > 64 {
		return false
	}
	for i := 0; i < len(state); i++ {
		c := state[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// AddPending remembers an authorization request in a sealed cookie of this
// browser. It writes nothing to the store. Expired and unreadable sign-in
// cookies are deleted, and the oldest when more than maxPending (or more
// than maxPendingBytes) would be in flight.
func (m *Manager) AddPending(w http.ResponseWriter, r *http.Request, p PendingAuth) error {
	if !validState(p.State) {
		return errors.New("session: a pending sign-in's state must be letters and digits")
	}
	now := m.now()
	if p.Created.IsZero() {
		p.Created = now
	}
	value, err := m.sealer.Seal(purposePending, p, p.Created, p.Created.Add(PendingLifetime))
	if err != nil {
		return fmt.Errorf("session: sealing a pending sign-in: %w", err)
	}
	name := m.pendingPrefix() + p.State
	if len(name)+len(value) > maxPendingCookie {
		return ErrPendingTooLarge
	}

	type inFlight struct {
		name    string
		created time.Time
		bytes   int
	}
	var live []inFlight
	seen := map[string]bool{}
	for _, c := range r.Cookies() {
		if !strings.HasPrefix(c.Name, m.pendingPrefix()) || seen[c.Name] {
			continue
		}
		if len(seen) == maxPendingSeen {
			break
		}
		seen[c.Name] = true
		q, ok := m.openPending(c, now)
		if !ok {
			http.SetCookie(w, m.browserCookie(c.Name, "", 0))
			continue
		}
		live = append(live, inFlight{name: c.Name, created: q.Created, bytes: len(c.Name) + len(c.Value)})
	}
	slices.SortStableFunc(live, func(a, b inFlight) int { return a.created.Compare(b.created) })
	total := len(name) + len(value)
	for _, f := range live {
		total += f.bytes
	}
	for len(live) > 0 && (len(live)+1 > maxPending || total > maxPendingBytes) {
		http.SetCookie(w, m.browserCookie(live[0].name, "", 0))
		total -= live[0].bytes
		live = live[1:]
	}
	http.SetCookie(w, m.browserCookie(name, value, PendingLifetime))
	return nil
}

// openPending opens one sign-in cookie; ok is false when it is not one
// rp sealed, has expired, or does not belong to the state in its name.
func (m *Manager) openPending(c *http.Cookie, now time.Time) (PendingAuth, bool) {
	var p PendingAuth
	if err := m.sealer.Open(purposePending, c.Value, now, &p); err != nil {
		return p, false
	}
	want := strings.TrimPrefix(c.Name, m.pendingPrefix())
	if subtle.ConstantTimeCompare([]byte(p.State), []byte(want)) != 1 || now.Sub(p.Created) > PendingLifetime {
		return p, false
	}
	return p, true
}

// Taken says what TakePending found.
type Taken int

const (
	// NoPending: no cookie of this browser names the state.
	NoPending Taken = iota
	// PendingTaken: the sign-in is returned, and cannot be taken again
	// from this browser or, on this instance, from a copy of its cookie.
	PendingTaken
	// PendingBad: a cookie names the state but cannot be opened: tampered
	// with, sealed with a secret no longer configured, or expired.
	PendingBad
	// PendingReplayed: the cookie is genuine, but this instance has taken
	// its sign-in before: a copy sent again.
	PendingReplayed
)

// TakePending returns the authorization request with the given state from
// this browser's sealed cookie and deletes the cookie, whatever it holds:
// the browser can present it once, and a copy of it gets PendingReplayed
// on this instance. It reads and writes nothing in the store; ClaimState
// makes the state single-use across instances once the sign-in has
// succeeded.
func (m *Manager) TakePending(w http.ResponseWriter, r *http.Request, state string) (PendingAuth, Taken) {
	if !validState(state) {
		return PendingAuth{}, NoPending
	}
	name := m.pendingPrefix() + state
	found := false
	now := m.now()
	var p PendingAuth
	ok := false
	for _, c := range r.Cookies() {
		if c.Name != name {
			continue
		}
		found = true
		if q, good := m.openPending(c, now); good {
			p, ok = q, true
			break
		}
	}
	if !found {
		return PendingAuth{}, NoPending
	}
	http.SetCookie(w, m.browserCookie(name, "", 0))
	switch {
	case !ok:
		return PendingAuth{}, PendingBad
	case !m.seen.first(p.State, now, p.Created.Add(PendingLifetime+sealed.Leeway)):
		return PendingAuth{}, PendingReplayed
	}
	return p, PendingTaken
}

// ClaimState records, on every instance sharing the store, that the state
// of p has been used, and reports whether this was its first use. Call it
// once the sign-in has succeeded at the provider: a request that has not
// proved who it is must not write to the store.
func (m *Manager) ClaimState(ctx context.Context, p PendingAuth) (bool, error) {
	return m.Claim(ctx, "state", p.State, p.Created.Add(PendingLifetime+sealed.Leeway))
}

// PutLogoutNotice leaves a note for /logged-out in a sealed cookie of this
// browser, for as long as a provider's logout may take.
func (m *Manager) PutLogoutNotice(w http.ResponseWriter, n LogoutNotice) error {
	now := m.now()
	value, err := m.sealer.Seal(purposeLogout, n, now, now.Add(PendingLifetime))
	if err != nil {
		return fmt.Errorf("session: sealing the logout notice: %w", err)
	}
	http.SetCookie(w, m.browserCookie(m.logoutCookie(), value, PendingLifetime))
	return nil
}

// TakeLogoutNotice returns the note left by PutLogoutNotice and deletes
// it. had is false when there is none, or it cannot be opened.
func (m *Manager) TakeLogoutNotice(w http.ResponseWriter, r *http.Request) (n LogoutNotice, had bool) {
	c, err := r.Cookie(m.logoutCookie())
	if err != nil {
		return n, false
	}
	http.SetCookie(w, m.browserCookie(c.Name, "", 0))
	if err := m.sealer.Open(purposeLogout, c.Value, m.now(), &n); err != nil {
		m.log.Warn("a logout notice cookie could not be opened; ignoring it")
		return LogoutNotice{}, false
	}
	return n, true
}
