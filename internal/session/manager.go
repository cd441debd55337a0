// Package session keeps rp's server-side sessions with scs: store selection,
// the cookie, what a session holds, and the index that finds sessions by the
// provider's sid or sub. It knows nothing of OpenID Connect or pages.
package session

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
)

// ErrStore wraps every failure to read or write the session store.
var ErrStore = errors.New("session: store unavailable")

// Options configure a Manager.
type Options struct {
	Store        string        // "memory" or "sqlite:PATH"
	IdleTimeout  time.Duration // 0: none
	Lifetime     time.Duration // absolute, from sign-in
	SecureCookie bool          // set when rp is served over https
	Logger       *slog.Logger
	Now          func() time.Time // default time.Now
}

// Manager is rp's session layer. Its methods that take a context need one
// that went through Load.
type Manager struct {
	scs     *scs.SessionManager
	backend *backend
	log     *slog.Logger
	now     func() time.Time
	stop    chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Session keys; values are strings or JSON bytes, so gob needs no
// registered types.
const (
	keyLogin   = "login"
	keyPending = "pending"
	keyCSRF    = "csrf"
	keyLogout  = "logout"
)

// PendingLifetime bounds how long a started sign-in may take.
const PendingLifetime = 10 * time.Minute

// maxPending caps sign-ins in flight per browser (several tabs).
const maxPending = 5

// Open opens the store and returns a Manager.
func Open(ctx context.Context, o Options) (*Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	const cleanup = 5 * time.Minute
	b, err := openBackend(ctx, o.Store, cleanup)
	if err != nil {
		return nil, err
	}
	s := scs.New()
	s.Store = b.store
	s.IdleTimeout = o.IdleTimeout
	s.Lifetime = o.Lifetime
	// A leaked store must not hand out live cookies.
	s.HashTokenInStore = true
	s.Cookie.Name = "rp_session"
	if o.SecureCookie {
		// __Host- makes browsers insist on Secure, Path=/ and no Domain.
		s.Cookie.Name = "__Host-rp_session"
	}
	s.Cookie.Secure = o.SecureCookie
	s.Cookie.HttpOnly = true
	s.Cookie.SameSite = http.SameSiteLaxMode
	s.Cookie.Path = "/"
	s.Cookie.Domain = ""
	s.Cookie.Persist = false // ends with the browser; the server enforces the timeouts
	m := &Manager{scs: s, backend: b, log: o.Logger, now: o.Now, stop: make(chan struct{})}
	go m.pruneIndex(cleanup)
	return m, nil
}

// Close stops background work and closes the store. It may be called more
// than once.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		m.closeErr = m.backend.close()
	})
	return m.closeErr
}

// Ping checks that the store answers.
func (m *Manager) Ping(ctx context.Context) error {
	if err := m.backend.ping(ctx); err != nil {
		return fmt.Errorf("%w: store unreachable: %w", ErrStore, err)
	}
	return nil
}

// CookieName is the session cookie's name.
func (m *Manager) CookieName() string { return m.scs.Cookie.Name }

func (m *Manager) pruneIndex(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := m.backend.index.DeleteExpired(ctx, m.now()); err != nil {
				m.log.Warn("pruning the session index failed", "err", err)
			}
			cancel()
		}
	}
}

// Load reads the session named by the request's cookie into the returned
// request's context. A missing, expired or ended session gives an empty one.
func (m *Manager) Load(r *http.Request) (*http.Request, error) {
	var token string
	if c, err := r.Cookie(m.scs.Cookie.Name); err == nil {
		token = c.Value
	}
	ctx, err := m.scs.Load(r.Context(), token)
	if err != nil {
		return nil, fmt.Errorf("%w: loading: %w", ErrStore, err)
	}
	// scs gives a found session its token and a new one none.
	ctx = context.WithValue(ctx, loadedKey{}, m.scs.Token(ctx))
	return r.WithContext(ctx), nil
}

type loadedKey struct{}

// Save writes a changed session to the store and sets (or clears) the
// cookie on w. Call it before the response's header is written: scs cannot
// send a cookie after that.
func (m *Manager) Save(ctx context.Context, w http.ResponseWriter) error {
	switch m.scs.Status(ctx) {
	case scs.Modified:
		cctx := ctx
		if loaded, _ := ctx.Value(loadedKey{}).(string); loaded != "" && loaded == m.scs.Token(ctx) {
			cctx = withUpdateOnly(ctx)
		}
		token, expiry, err := m.scs.Commit(cctx)
		if errors.Is(err, errSessionGone) {
			// Ended by a concurrent logout or sign-in: it stays ended, and
			// the cookie is left alone (the other response sets it).
			m.log.Debug("a session ended while a request ran; not saved")
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: saving: %w", ErrStore, err)
		}
		m.scs.WriteSessionCookie(ctx, w, token, expiry)
	case scs.Destroyed:
		m.scs.WriteSessionCookie(ctx, w, "", time.Time{})
	}
	return nil
}

// Login returns the signed-in identity, if any. It is safe to call with a
// context that did not go through Load (there is no one signed in then).
func (m *Manager) Login(ctx context.Context) (Login, bool) {
	if _, loaded := ctx.Value(loadedKey{}).(string); !loaded {
		return Login{}, false
	}
	var l Login
	if !getJSON(m, ctx, keyLogin, &l) || l.Subject == "" {
		return Login{}, false
	}
	return l, true
}

// Deadline is when the current session ends at the latest.
func (m *Manager) Deadline(ctx context.Context) time.Time { return m.scs.Deadline(ctx) }

// SignIn starts an authenticated session: it renews the session token (no
// fixation: the token the browser had before is deleted), stores l, and
// indexes the session by the provider's sub and sid.
func (m *Manager) SignIn(ctx context.Context, l Login) error {
	if err := m.scs.RenewToken(ctx); err != nil {
		return fmt.Errorf("%w: renewing the token: %w", ErrStore, err)
	}
	m.scs.Remove(ctx, keyCSRF)
	m.scs.Remove(ctx, keyLogout)
	if err := putJSON(m, ctx, keyLogin, l); err != nil {
		return err
	}
	entry := IndexEntry{Issuer: l.Issuer, Subject: l.Subject, SID: l.SID, Expiry: m.scs.Deadline(ctx)}
	return m.backend.index.Add(ctx, storeKey(m.scs.Token(ctx)), entry)
}

// SignOut destroys the session in the store and removes it from the index,
// returning what it held. The browser gets a fresh, empty session after.
func (m *Manager) SignOut(ctx context.Context) (Login, error) {
	l, _ := m.Login(ctx)
	token := m.scs.Token(ctx)
	// The session first: if that fails it stays indexed, so a logout from
	// the provider can still find it.
	if err := m.scs.Destroy(ctx); err != nil {
		return l, fmt.Errorf("%w: destroying: %w", ErrStore, err)
	}
	if token != "" {
		if err := m.backend.index.Remove(ctx, storeKey(token)); err != nil {
			m.log.Warn("a destroyed session stays in the index until it expires", "err", err)
		}
	}
	return l, nil
}

// EndSessions destroys, in the store, every session of issuer iss matching
// sid (or sub when sid is empty), on every instance sharing the store. It
// returns how many it ended.
func (m *Manager) EndSessions(ctx context.Context, iss, sub, sid string) (int, error) {
	keys, err := m.backend.index.Find(ctx, iss, sub, sid)
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := m.backend.store.Delete(k); err != nil {
			return 0, fmt.Errorf("%w: deleting a session: %w", ErrStore, err)
		}
		if err := m.backend.index.Remove(ctx, k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// AddPending remembers an authorization request for this browser. Expired
// ones are dropped, and the oldest when too many are in flight.
func (m *Manager) AddPending(ctx context.Context, p PendingAuth) error {
	list := m.livePending(ctx)
	list = append(list, p)
	if len(list) > maxPending {
		list = list[len(list)-maxPending:]
	}
	if _, signedIn := m.Login(ctx); !signedIn {
		// A session that only waits for a sign-in needs to live no longer
		// than the sign-in may take: anonymous visitors cannot fill the
		// store for RP_SESSION_LIFETIME. SignIn sets the full lifetime.
		m.scs.SetDeadline(ctx, m.now().Add(PendingLifetime))
	}
	return putJSON(m, ctx, keyPending, list)
}

// TakePending removes and returns the authorization request with the given
// state, comparing in constant time. Each request can be taken once, even
// by concurrent requests: the state is claimed in the store.
func (m *Manager) TakePending(ctx context.Context, state string) (PendingAuth, bool, error) {
	list := m.livePending(ctx)
	found := -1
	for i, p := range list {
		if subtle.ConstantTimeCompare([]byte(p.State), []byte(state)) == 1 {
			found = i
		}
	}
	if found < 0 || state == "" {
		return PendingAuth{}, false, nil
	}
	p := list[found]
	list = slices.Delete(list, found, found+1)
	if len(list) == 0 {
		m.scs.Remove(ctx, keyPending)
	} else if err := putJSON(m, ctx, keyPending, list); err != nil {
		return PendingAuth{}, false, err
	}
	first, err := m.backend.index.Claim(ctx, "state:"+storeKey(state), p.Created.Add(PendingLifetime))
	if err != nil || !first {
		return PendingAuth{}, false, err
	}
	return p, true, nil
}

func (m *Manager) livePending(ctx context.Context) []PendingAuth {
	var list []PendingAuth
	getJSON(m, ctx, keyPending, &list)
	now := m.now()
	return slices.DeleteFunc(list, func(p PendingAuth) bool { return now.Sub(p.Created) > PendingLifetime })
}

// CSRFToken returns the session's anti-CSRF token, creating it if needed.
func (m *Manager) CSRFToken(ctx context.Context) string {
	if t := m.scs.GetString(ctx, keyCSRF); t != "" {
		return t
	}
	t := rand.Text()
	m.scs.Put(ctx, keyCSRF, t)
	return t
}

// CheckCSRF reports whether token is the session's anti-CSRF token.
func (m *Manager) CheckCSRF(ctx context.Context, token string) bool {
	want := m.scs.GetString(ctx, keyCSRF)
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
}

// PutLogoutNotice leaves a note for /logged-out, in a session that lives
// only as long as a provider's logout may take.
func (m *Manager) PutLogoutNotice(ctx context.Context, n LogoutNotice) error {
	m.scs.SetDeadline(ctx, m.now().Add(PendingLifetime))
	return putJSON(m, ctx, keyLogout, n)
}

// TakeLogoutNotice removes and returns the note left by PutLogoutNotice. A
// session left empty by that is deleted rather than kept.
func (m *Manager) TakeLogoutNotice(ctx context.Context) (LogoutNotice, bool, error) {
	var n LogoutNotice
	if !getJSON(m, ctx, keyLogout, &n) {
		return n, false, nil
	}
	m.scs.Remove(ctx, keyLogout)
	if len(m.scs.Keys(ctx)) == 0 {
		if err := m.scs.Destroy(ctx); err != nil {
			return n, true, fmt.Errorf("%w: deleting an empty session: %w", ErrStore, err)
		}
	}
	return n, true, nil
}

func putJSON(m *Manager, ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("session: encoding %s: %w", key, err)
	}
	m.scs.Put(ctx, key, b)
	return nil
}

func getJSON(m *Manager, ctx context.Context, key string, v any) bool {
	b, ok := m.scs.Get(ctx, key).([]byte)
	if !ok {
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		m.log.Error("a session value could not be decoded; ignoring it", "key", key, "err", errors.Unwrap(err))
		return false
	}
	return true
}
