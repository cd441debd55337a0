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
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/rp-project/rp/internal/sealed"
)

// ErrStore wraps every failure to read or write the session store.
var ErrStore = errors.New("session: store unavailable")

// Options configure a Manager.
type Options struct {
	Store         string        // "memory", "sqlite:PATH", "redis://...", "rediss://...", "postgres://..."
	StorePassword string        // for redis and postgres, when not in the URL
	StoreTimeout  time.Duration // bound on each store call; default 2s
	IdleTimeout   time.Duration // 0: none
	Lifetime      time.Duration // absolute, from sign-in
	SecureCookie  bool          // set when rp is served over https
	CookieName    string        // default rp_session; https adds __Host-
	// CookieSecrets seal what the browser carries before sign-in and
	// after sign-out (see pending.go); the first seals, all open. Every
	// instance sharing the store needs the same. Empty: a random secret
	// of this process, so that a sign-in finishes only on the instance
	// that started it (tests, and one instance with the memory store).
	CookieSecrets []string
	// CookieContext names the deployment in the keys of sealed cookies
	// (see sealed.New); the same on every instance.
	CookieContext string
	// AccessTokenInSession keeps a copy of the access token in the
	// session's data, for requests that pass it on without a second read.
	AccessTokenInSession bool
	Logger               *slog.Logger
	Now                  func() time.Time // default time.Now

	// TouchEvery is how often a signed-in session's last-seen time and
	// idle deadline move forward, at most: between two moves a request
	// reads the session and writes nothing. Default: a minute, or a
	// quarter of the idle timeout when that is shorter.
	TouchEvery time.Duration
}

// Manager is rp's session layer. Its methods that take a context need one
// that went through Load.
type Manager struct {
	scs        *scs.SessionManager
	backend    *backend
	store      boundStore
	index      boundIndex
	counters   *counters
	idle       time.Duration
	lifetime   time.Duration
	touchEvery time.Duration
	log        *slog.Logger
	now        func() time.Time
	stop       chan struct{}
	sealer     *sealed.Sealer
	seen       seenStates // states taken at /callback on this instance

	accessInSession bool
	flights         flights
	logins          loginCache

	closeOnce sync.Once
	closeErr  error
}

// Session keys; values are strings, int64 or JSON bytes (see codec).
const (
	keyLogin  = "login"
	keyTokens = "tokens"
	keyCSRF   = "csrf"
	keySeen   = "seen" // unix seconds of the last touch
)

// indexGrace keeps an index entry a little longer than its session, so
// that clocks differing between rp and the store never let a live session
// drop out of the index.
const indexGrace = 5 * time.Minute

// Open opens the store and returns a Manager. A Redis or PostgreSQL store
// that is down does not make it fail: Ping reports it, and calls succeed
// once the server is back.
func Open(ctx context.Context, o Options) (*Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = 2 * time.Second
	}
	if o.TouchEvery <= 0 {
		o.TouchEvery = time.Minute
		if o.IdleTimeout > 0 {
			o.TouchEvery = min(o.TouchEvery, o.IdleTimeout/4)
		}
	}
	if len(o.CookieSecrets) == 0 {
		o.CookieSecrets = []string{rand.Text() + rand.Text()}
	}
	sealer, err := sealed.New(o.CookieContext, o.CookieSecrets...)
	if err != nil {
		return nil, fmt.Errorf("session: cookie secrets: %w", err)
	}
	const cleanup = 5 * time.Minute
	b, err := openBackend(ctx, backendOptions{spec: o.Store, password: o.StorePassword,
		timeout: o.StoreTimeout, cleanup: cleanup, log: o.Logger})
	if err != nil {
		return nil, err
	}
	n := &counters{}
	m := &Manager{
		backend:    b,
		store:      boundStore{inner: b.store, timeout: o.StoreTimeout, n: n},
		index:      boundIndex{inner: b.index, timeout: o.StoreTimeout, n: n},
		counters:   n,
		idle:       o.IdleTimeout,
		lifetime:   o.Lifetime,
		touchEvery: o.TouchEvery,
		log:        o.Logger,
		now:        o.Now,
		stop:       make(chan struct{}),
		sealer:     sealer,

		accessInSession: o.AccessTokenInSession,
	}
	s := scs.New()
	s.Store = m.store
	s.Codec = codec{}
	// The idle timeout is rp's, not scs's: scs would rewrite the session
	// on every request. Deadlines are set by SignIn and touch.
	s.IdleTimeout = 0
	s.Lifetime = o.Lifetime
	// A leaked store must not hand out live cookies.
	s.HashTokenInStore = true
	if o.CookieName == "" {
		o.CookieName = "rp_session"
	}
	s.Cookie.Name = o.CookieName
	if o.SecureCookie {
		// __Host- makes browsers insist on Secure, Path=/ and no Domain.
		s.Cookie.Name = "__Host-" + o.CookieName
	}
	s.Cookie.Secure = o.SecureCookie
	s.Cookie.HttpOnly = true
	s.Cookie.SameSite = http.SameSiteLaxMode
	s.Cookie.Path = "/"
	s.Cookie.Domain = ""
	s.Cookie.Persist = false // ends with the browser; the server enforces the timeouts
	m.scs = s
	go m.prune(cleanup)
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
	ctx, cancel := context.WithTimeout(ctx, m.store.timeout)
	defer cancel()
	if err := m.backend.ping(ctx); err != nil {
		if errors.Is(err, ErrStore) {
			return err
		}
		return fmt.Errorf("%w: store unreachable: %w", ErrStore, err)
	}
	return nil
}

// Stats returns the store round trips made so far.
func (m *Manager) Stats() Stats { return m.counters.stats() }

// CookieName is the session cookie's name.
func (m *Manager) CookieName() string { return m.scs.Cookie.Name }

func (m *Manager) prune(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			// A batch, not a request: a minute, not RP_SESSION_STORE_TIMEOUT,
			// so a backlog of expired rows does not keep timing out.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := m.backend.index.DeleteExpired(ctx, m.now()); err != nil {
				m.log.Warn("pruning expired sessions and index entries failed; will retry", "err", err)
			}
			cancel()
		}
	}
}

// request is what a Manager remembers about one request's session.
type request struct {
	token    string // the token the session was loaded with; "" for a new one
	decoded  bool   // login has been decoded (or found absent)
	login    *Login
	touched  bool // Load moved the session's last-seen time forward
	signedIn bool // SignIn ran: the session is new and indexed
	tokens   *Tokens
}

type requestKey struct{}

func state(ctx context.Context) *request {
	rs, _ := ctx.Value(requestKey{}).(*request)
	return rs
}

// Load reads the session named by the request's cookie into the returned
// request's context: one read from the store. A missing, expired or ended
// session gives an empty one. A signed-in session's last-seen time (and
// with it the idle deadline) moves forward at most once per TouchEvery, so
// most requests write nothing.
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
	rs := &request{token: m.scs.Token(ctx)}
	ctx = context.WithValue(ctx, requestKey{}, rs)
	if l, ok := m.Login(ctx); ok {
		m.touch(ctx, rs, l)
	}
	return r.WithContext(ctx), nil
}

// touch moves a signed-in session's last-seen time and idle deadline
// forward when the last move is TouchEvery old.
func (m *Manager) touch(ctx context.Context, rs *request, l Login) {
	now := m.now()
	if now.Sub(time.Unix(m.scs.GetInt64(ctx, keySeen), 0)) < m.touchEvery {
		return
	}
	m.scs.Put(ctx, keySeen, now.Unix())
	m.scs.SetDeadline(ctx, m.deadline(l, now))
	rs.touched = true
}

// deadline is when a session of l used at now ends: its lifetime after
// sign-in, or sooner when the idle timeout runs out.
func (m *Manager) deadline(l Login, now time.Time) time.Time {
	d := l.SignedInAt.Add(m.lifetime)
	if idle := now.Add(m.idle); m.idle > 0 && idle.Before(d) {
		d = idle
	}
	return d.UTC()
}

func indexEntry(l Login, deadline time.Time) IndexEntry {
	return IndexEntry{Issuer: l.Issuer, Subject: l.Subject, SID: l.SID, Expiry: deadline.Add(indexGrace)}
}

// Save writes a changed session to the store and sets (or clears) the
// cookie on w. Call it before the response's header is written: scs cannot
// send a cookie after that. A session the request loaded is only updated,
// never created again: a concurrent logout stays a logout.
func (m *Manager) Save(ctx context.Context, w http.ResponseWriter) error {
	rs := state(ctx)
	switch m.scs.Status(ctx) {
	case scs.Modified:
		cctx := ctx
		loaded := rs != nil && rs.token != "" && rs.token == m.scs.Token(ctx)
		if loaded {
			cctx = withUpdateOnly(ctx)
			if l, ok := m.Login(ctx); ok && rs.touched {
				// The index first: it must never expire before the
				// session, or a logout from the provider could miss it.
				key := storeKey(rs.token)
				if err := m.index.Touch(ctx, key, indexEntry(l, m.scs.Deadline(ctx))); err != nil {
					return err
				}
			}
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
		if rs != nil && rs.signedIn {
			if ended, err := m.endedDuringSignIn(ctx, token); err != nil || ended {
				return err
			}
		}
		if !loaded {
			// A browser-session cookie: the browser holds it already when
			// the session was loaded.
			m.scs.WriteSessionCookie(ctx, w, token, expiry)
		}
	case scs.Destroyed:
		m.scs.WriteSessionCookie(ctx, w, "", time.Time{})
	}
	return nil
}

// endedDuringSignIn closes the one window in which a logout from the
// provider could miss a session: SignIn indexes a new session before its
// first save, and a logout that finds the entry in between deletes the
// entry (and a session not saved yet), so the save would create a session
// nobody can find. After that first save, the entry must still be there;
// if it is gone, the session is deleted again and ended is true. If the
// entry cannot be read, the session is deleted too, and err says why.
func (m *Manager) endedDuringSignIn(ctx context.Context, token string) (ended bool, err error) {
	key := storeKey(token)
	has, err := m.index.Has(ctx, key)
	if err == nil && has {
		return false, nil
	}
	if derr := m.store.DeleteCtx(ctx, key); derr != nil {
		return true, fmt.Errorf("%w: deleting a session that may be missing from the index: %w", ErrStore, derr)
	}
	if err != nil {
		return true, err
	}
	m.log.Info("a logout from the provider arrived while this session was being created; it is ended")
	return true, nil
}

// Login returns the signed-in identity, if any, decoding it once per
// request. It is safe to call with a context that did not go through Load
// (there is no one signed in then).
func (m *Manager) Login(ctx context.Context) (Login, bool) {
	rs := state(ctx)
	if rs == nil {
		return Login{}, false
	}
	if !rs.decoded {
		rs.decoded = true
		rs.login = m.decodeLogin(ctx)
	}
	if rs.login == nil {
		return Login{}, false
	}
	return *rs.login, true
}

// decodeLogin decodes the session's login, once per distinct login across
// requests (see loginCache).
func (m *Manager) decodeLogin(ctx context.Context) *Login {
	b, ok := m.scs.Get(ctx, keyLogin).([]byte)
	if !ok {
		return nil
	}
	if l, ok := m.logins.get(b); ok {
		return l
	}
	var l Login
	if err := json.Unmarshal(b, &l); err != nil {
		m.log.Error("a session value could not be decoded; ignoring it", "key", keyLogin, "err", errors.Unwrap(err))
		return nil
	}
	if l.Subject == "" {
		return nil
	}
	m.logins.put(b, &l)
	return &l
}

// Deadline is when the current session ends at the latest: its lifetime,
// or its idle deadline when that comes first.
func (m *Manager) Deadline(ctx context.Context) time.Time { return m.scs.Deadline(ctx) }

// LifetimeEnd is when the session of l ends even if it is used all along.
func (m *Manager) LifetimeEnd(l Login) time.Time { return l.SignedInAt.Add(m.lifetime) }

// SignIn starts an authenticated session: it renews the session token (no
// fixation: the token the browser had before is deleted), stores l and t
// with a fresh CSRF token, and indexes the session by the provider's sub
// and sid before it is saved, so that no saved session is ever missing from
// the index.
func (m *Manager) SignIn(ctx context.Context, l Login, t Tokens) error {
	if err := m.scs.RenewToken(ctx); err != nil {
		return fmt.Errorf("%w: renewing the token: %w", ErrStore, err)
	}
	now := m.now()
	if l.SignedInAt.IsZero() {
		l.SignedInAt = now
	}
	deadline := m.deadline(l, now)
	key := storeKey(m.scs.Token(ctx))
	// The index before anything else: if it fails, the session saved with
	// the error page holds no login.
	if err := m.index.Add(ctx, key, indexEntry(l, deadline)); err != nil {
		return err
	}
	if err := m.writeTokens(ctx, key, l, t); err != nil {
		return err
	}
	m.scs.Put(ctx, keyCSRF, rand.Text())
	m.scs.Put(ctx, keySeen, now.Unix())
	m.scs.SetDeadline(ctx, deadline)
	if err := putJSON(m, ctx, keyLogin, l); err != nil {
		return err
	}
	m.putHints(ctx, t)
	if rs := state(ctx); rs != nil {
		rs.decoded, rs.login, rs.touched, rs.signedIn, rs.tokens = true, &l, false, true, &t
	}
	return nil
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
	if rs := state(ctx); rs != nil {
		rs.decoded, rs.login, rs.signedIn, rs.tokens = true, nil, false, nil
	}
	if token != "" {
		key := storeKey(token)
		if err := m.index.Remove(ctx, key); err != nil {
			m.log.Warn("a destroyed session stays in the index until it expires", "err", err)
		}
		if err := m.store.DeleteCtx(ctx, tokenKey(key)); err != nil {
			m.log.Warn("a destroyed session's tokens stay until they expire", "err", err)
		}
	}
	return l, nil
}

// EndSessions destroys, in the store, every session of issuer iss matching
// sid, or sub when sid is empty, or both when both are given, on every
// instance sharing the store. It returns how many it ended.
func (m *Manager) EndSessions(ctx context.Context, iss, sub, sid string) (int, error) {
	keys, err := m.index.Find(ctx, iss, sub, sid)
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	return m.index.Delete(ctx, keys)
}

// Claim records that value was used for purpose (a logout token's jti, a
// sign-in's state) until expiry, and reports whether this is its first use,
// on every instance sharing the store.
func (m *Manager) Claim(ctx context.Context, purpose, value string, expiry time.Time) (bool, error) {
	return m.index.Claim(ctx, purpose+":"+storeKey(value), expiry)
}

// Release forgets a claim made by Claim, so that a request that failed
// after claiming can be retried.
func (m *Manager) Release(ctx context.Context, purpose, value string) error {
	return m.index.Release(ctx, purpose+":"+storeKey(value))
}

// CSRFToken returns the session's anti-CSRF token, creating it if needed
// (SignIn creates one, so a signed-in session has it already).
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
