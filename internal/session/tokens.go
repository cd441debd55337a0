package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The provider's tokens live in a record of their own beside the session,
// under tokenKey(session key), not in the session's data. Every request
// that touches a session may save its copy of the data, and a copy read
// before a refresh would otherwise bring back the refresh token the
// provider has just rotated away. Only SignIn and Refresh (under the
// session's refresh lock) write the record; logouts delete it with the
// session. The session's data keeps two hints so that most requests need
// no second read: when a refresh is due, and (when the app is sent the
// access token) a copy of the access token.
const (
	keyRefreshAt = "refresh_at" // unix seconds; absent when there is nothing to refresh
	keyAccess    = "access"     // the access token, when Options.AccessTokenInSession
)

// tokenKey is the store key of the tokens of the session stored under key.
func tokenKey(key string) string { return "t:" + key }

// ErrEnded means the session ended (a logout elsewhere) while a request
// was working on it.
var ErrEnded = errors.New("session: ended meanwhile")

var errRefreshPanicked = errors.New("session: the refresh did not finish")

// ErrRefreshBusy means another instance held the session's refresh lock
// for longer than the caller would wait.
var ErrRefreshBusy = errors.New("session: another refresh of this session is still running")

// writeTokens stores t as the tokens of the session under key, until the
// session's lifetime ends (it cannot outlive that, however it is used).
func (m *Manager) writeTokens(ctx context.Context, key string, l Login, t Tokens) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("session: encoding tokens: %w", err)
	}
	if err := m.store.CommitCtx(ctx, tokenKey(key), b, m.LifetimeEnd(l).Add(indexGrace)); err != nil {
		return fmt.Errorf("%w: saving tokens: %w", ErrStore, err)
	}
	return nil
}

// readTokens reads the tokens record of the session under key, from the
// store itself: never from a cache, since a refresh must see the latest
// refresh token.
func (m *Manager) readTokens(ctx context.Context, key string) (Tokens, bool, error) {
	b, found, err := m.store.findFresh(ctx, tokenKey(key))
	if err != nil {
		return Tokens{}, false, fmt.Errorf("%w: reading tokens: %w", ErrStore, err)
	}
	if !found {
		return Tokens{}, false, nil
	}
	var t Tokens
	if err := json.Unmarshal(b, &t); err != nil {
		m.log.Error("a session's tokens could not be decoded; ignoring them", "err", errors.Unwrap(err))
		return Tokens{}, false, nil
	}
	return t, true, nil
}

// putHints records in the session's data when t needs refreshing, and the
// access token when the app is sent it.
func (m *Manager) putHints(ctx context.Context, t Tokens) {
	if t.RefreshToken != "" && !t.RefreshAt.IsZero() {
		m.scs.Put(ctx, keyRefreshAt, t.RefreshAt.Unix())
	} else {
		m.scs.Remove(ctx, keyRefreshAt)
	}
	if m.accessInSession {
		m.scs.Put(ctx, keyAccess, t.AccessToken)
	}
}

// Tokens returns the provider's tokens of the signed-in session: one read
// of the store, once per request.
func (m *Manager) Tokens(ctx context.Context) (Tokens, bool, error) {
	if _, ok := m.Login(ctx); !ok {
		return Tokens{}, false, nil
	}
	rs := state(ctx)
	if rs.tokens != nil {
		return *rs.tokens, true, nil
	}
	t, found, err := m.readTokens(ctx, storeKey(m.scs.Token(ctx)))
	if err != nil {
		return Tokens{}, false, err
	}
	// Sessions of earlier releases kept the tokens in the session's data.
	if !found && !getJSON(m, ctx, keyTokens, &t) && !getJSON(m, ctx, keyLogin, &t) {
		return Tokens{}, false, nil
	}
	rs.tokens = &t
	return t, true, nil
}

// AccessToken returns the access token kept in the session's data (only
// with Options.AccessTokenInSession), without a store read.
func (m *Manager) AccessToken(ctx context.Context) string {
	if _, ok := m.Login(ctx); !ok {
		return ""
	}
	if rs := state(ctx); rs.tokens != nil {
		return rs.tokens.AccessToken // read or refreshed by this request
	}
	if s := m.scs.GetString(ctx, keyAccess); s != "" {
		return s
	}
	// An earlier release's session, or one whose hint is missing.
	if t, ok, err := m.Tokens(ctx); err == nil && ok {
		return t.AccessToken
	}
	return ""
}

// RefreshDue reports whether the signed-in session's tokens should be
// refreshed now, from the hint in its data: no store read.
func (m *Manager) RefreshDue(ctx context.Context) bool {
	if _, ok := m.Login(ctx); !ok {
		return false
	}
	at := m.scs.GetInt64(ctx, keyRefreshAt)
	return at != 0 && !m.now().Before(time.Unix(at, 0))
}

// Refresh describes one refresh of a session's tokens.
type Refresh struct {
	// Due reports whether tokens read from the store still need a
	// refresh; another instance may have refreshed them meanwhile.
	Due func(Tokens) bool
	// Do asks the provider for new tokens. claims, when not nil, replace
	// the login's claims (the provider sent a new ID token).
	Do func(ctx context.Context, t Tokens) (next Tokens, claims json.RawMessage, err error)
	// Wait bounds how long to wait for another instance's refresh of the
	// same session; Hold bounds how long the lock is held (Do's longest
	// run, and a margin).
	Wait, Hold time.Duration
}

// Refresh refreshes the current session's tokens at most once at a time
// across every instance sharing the store: requests of this instance share
// one run, and instances take a lock in the store. Under the lock the
// tokens are read again from the store, so a refresh another instance has
// just finished is used, not repeated, and the refresh token sent is always
// the latest: a rotated refresh token is never lost to a race. The new
// tokens are written before the lock is released.
func (m *Manager) Refresh(ctx context.Context, r Refresh) (Tokens, error) {
	if _, ok := m.Login(ctx); !ok {
		return Tokens{}, ErrEnded
	}
	key := storeKey(m.scs.Token(ctx))
	f, leader := m.flights.join(key)
	if leader {
		func() {
			// Even a panic must not leave the other requests waiting.
			defer m.flights.done(key, f)
			f.err = errRefreshPanicked
			f.t, f.claims, f.err = m.refreshLocked(ctx, key, r)
		}()
	} else {
		select {
		case <-f.ready:
		case <-ctx.Done():
			return Tokens{}, ctx.Err()
		}
	}
	if f.err != nil {
		return Tokens{}, f.err
	}
	if rs := state(ctx); rs != nil {
		t := f.t
		rs.tokens = &t
		if f.claims != nil && rs.login != nil {
			l := *rs.login
			l.Claims = f.claims
			rs.login = &l
			if !leader && rs.touched {
				// This request saves the session: with the new claims,
				// not the ones it loaded.
				if err := putJSON(m, ctx, keyLogin, l); err != nil {
					return Tokens{}, err
				}
			}
		}
	}
	if !leader {
		m.putHintsIfSaving(ctx, f.t)
	}
	return f.t, nil
}

func (m *Manager) refreshLocked(ctx context.Context, key string, r Refresh) (Tokens, json.RawMessage, error) {
	// The browser going away must not cut a refresh short: the provider
	// may have rotated the refresh token already, and the answer holds
	// the only copy of the new one. Each call has its own timeout.
	ctx = context.WithoutCancel(ctx)
	lock := "refresh:" + key
	// The lock outlives the longest locked section: the provider call
	// (r.Hold), up to five store calls each bounded by the store timeout,
	// and the whole seconds SQL stores keep expiries in. Another holder
	// can then never have it while this one still works.
	hold := r.Hold + 5*m.store.timeout + 2*time.Second
	deadline := m.now().Add(r.Wait)
	for {
		got, err := m.index.Claim(ctx, lock, time.Now().Add(hold))
		if err != nil {
			return Tokens{}, nil, err
		}
		if got {
			break
		}
		// Another instance is refreshing: wait for it, and use its result.
		if !m.now().Before(deadline) {
			return Tokens{}, nil, ErrRefreshBusy
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return Tokens{}, nil, ctx.Err()
		}
		t, found, err := m.readTokens(ctx, key)
		if err != nil {
			return Tokens{}, nil, err
		}
		if !found {
			return Tokens{}, nil, ErrEnded
		}
		if !r.Due(t) {
			return t, t.Claims, m.heal(ctx, t)
		}
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.store.timeout)
		defer cancel()
		if err := m.index.Release(rctx, lock); err != nil {
			m.log.Warn("a refresh lock stays until it expires", "err", err)
		}
	}()

	t, found, err := m.readTokens(ctx, key)
	if err != nil {
		return Tokens{}, nil, err
	}
	if !found {
		// A session of an earlier release keeps its tokens in its data.
		if !getJSON(m, ctx, keyTokens, &t) {
			return Tokens{}, nil, ErrEnded
		}
	}
	if !r.Due(t) {
		return t, t.Claims, m.heal(ctx, t)
	}
	next, claims, err := r.Do(ctx, t)
	if err != nil {
		return Tokens{}, nil, err
	}
	// The record keeps the claims that came with its tokens, so that a
	// session whose data a concurrent save took back can be healed.
	next.Claims = claims
	if claims == nil {
		next.Claims = t.Claims
	}
	l, _ := m.Login(ctx)
	if claims != nil {
		l.Claims = claims
		if err := putJSON(m, ctx, keyLogin, l); err != nil {
			return Tokens{}, nil, err
		}
	}
	// The record first, while the lock is held: it holds the only copy of
	// a rotated refresh token. A write is retried once, as losing it would
	// end the session at the next refresh.
	wctx := ctx
	if err := m.writeTokens(wctx, key, l, next); err != nil {
		m.log.Warn("saving refreshed tokens failed; retrying once", "err", err)
		if err := m.writeTokens(wctx, key, l, next); err != nil {
			return Tokens{}, nil, err
		}
	}
	m.putHints(ctx, next)
	m.scs.Remove(ctx, keyTokens) // an earlier release's copy
	if _, _, err := m.scs.Commit(withUpdateOnly(wctx)); err != nil {
		if errors.Is(err, errSessionGone) {
			// Logged out while refreshing: the record must not outlive it.
			if derr := m.store.DeleteCtx(wctx, tokenKey(key)); derr != nil {
				m.log.Warn("the tokens of an ended session stay until they expire", "err", derr)
			}
			return Tokens{}, nil, ErrEnded
		}
		return Tokens{}, nil, fmt.Errorf("%w: saving the session after a refresh: %w", ErrStore, err)
	}
	return next, claims, nil
}

// heal brings the session's data in line with its tokens record when a
// request found it due although the record is fresh: a request that loaded
// the session before a refresh saved its copy afterwards, taking back the
// hints (and the claims) the refresh wrote. Without this every request
// would find the stale hint due and take the slow path until the next
// real refresh. One write, only when something differs.
func (m *Manager) heal(ctx context.Context, t Tokens) error {
	l, ok := m.Login(ctx)
	if !ok {
		return ErrEnded
	}
	changed := false
	at := int64(0)
	if t.RefreshToken != "" && !t.RefreshAt.IsZero() {
		at = t.RefreshAt.Unix()
	}
	if m.scs.GetInt64(ctx, keyRefreshAt) != at || (m.accessInSession && m.scs.GetString(ctx, keyAccess) != t.AccessToken) {
		m.putHints(ctx, t)
		changed = true
	}
	if t.Claims != nil && !bytes.Equal(t.Claims, l.Claims) {
		l.Claims = t.Claims
		if err := putJSON(m, ctx, keyLogin, l); err != nil {
			return err
		}
		changed = true
	}
	if !changed {
		return nil
	}
	if _, _, err := m.scs.Commit(withUpdateOnly(ctx)); err != nil {
		if errors.Is(err, errSessionGone) {
			return ErrEnded
		}
		return fmt.Errorf("%w: saving a healed session: %w", ErrStore, err)
	}
	return nil
}

// putHintsIfSaving updates the hints of a session this request saves
// anyway, so that it does not write back stale ones.
func (m *Manager) putHintsIfSaving(ctx context.Context, t Tokens) {
	if rs := state(ctx); rs != nil && rs.touched {
		m.putHints(ctx, t)
	}
}

// flights lets the requests of one instance share one refresh per session.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	ready  chan struct{}
	t      Tokens
	claims json.RawMessage
	err    error
}

func (fs *flights) join(key string) (*flight, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.m[key]; ok {
		return f, false
	}
	if fs.m == nil {
		fs.m = make(map[string]*flight)
	}
	f := &flight{ready: make(chan struct{})}
	fs.m[key] = f
	return f, true
}

func (fs *flights) done(key string, f *flight) {
	fs.mu.Lock()
	delete(fs.m, key)
	fs.mu.Unlock()
	close(f.ready)
}
