package session

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/session/sessiontest"
)

// TestStoreContract runs the same checks against every store: what rp
// promises about sessions must not depend on where they are kept.
func TestStoreContract(t *testing.T) {
	for _, st := range sessiontest.All(t) {
		t.Run(st.Name, func(t *testing.T) {
			t.Parallel()
			spec := st.New(t)
			open := func(t *testing.T, o Options) *Manager {
				t.Helper()
				o.Store = spec
				if o.Lifetime == 0 {
					o.Lifetime = time.Hour
				}
				m, err := Open(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				return m
			}
			// Each check uses its own issuer: the store is shared between
			// them (and, for memory, private to each Manager).
			t.Run("EndSessionsBySidSubOrBoth", func(t *testing.T) { checkEndSessions(t, open(t, Options{})) })
			t.Run("InFlightRequestCannotUndoLogout", func(t *testing.T) {
				m := open(t, Options{IdleTimeout: 10 * time.Minute, TouchEvery: time.Nanosecond})
				checkInFlight(t, m, func(t *testing.T, c *http.Cookie) {
					logout := load(t, m, c)
					if _, err := m.SignOut(logout); err != nil {
						t.Fatal(err)
					}
					save(t, m, logout)
				})
			})
			t.Run("InFlightRequestCannotUndoProviderLogout", func(t *testing.T) {
				m := open(t, Options{IdleTimeout: 10 * time.Minute, TouchEvery: time.Nanosecond})
				checkInFlight(t, m, func(t *testing.T, _ *http.Cookie) {
					if n, err := m.EndSessions(context.Background(), "https://inflight.example", "", "s1"); err != nil || n != 1 {
						t.Fatalf("EndSessions: %d %v", n, err)
					}
				})
			})
			t.Run("HotPathReadsOnceWritesNothing", func(t *testing.T) {
				checkHotPath(t, open(t, Options{IdleTimeout: time.Hour}))
			})
			t.Run("ClaimsAreSingleUse", func(t *testing.T) {
				m := open(t, Options{})
				checkClaims(t, m, m)
			})
			t.Run("SessionsListsOnlyTheUsersOwn", func(t *testing.T) { checkSessionsList(t, open(t, Options{})) })
			if st.Name == "memory" {
				return // private to one Manager
			}
			t.Run("SharedBetweenInstances", func(t *testing.T) {
				checkShared(t, open(t, Options{}), open(t, Options{}))
			})
			t.Run("ClaimsAreSingleUseAcrossInstances", func(t *testing.T) {
				checkClaims(t, open(t, Options{}), open(t, Options{}))
			})
			t.Run("SurvivesARestart", func(t *testing.T) {
				m := open(t, Options{})
				c := signIn(t, m, Login{Issuer: "https://restart.example", Subject: "alice", SID: "s1"})
				m.Close()
				if !loggedIn(t, open(t, Options{}), c) {
					t.Fatal("a session was lost when rp restarted")
				}
			})
		})
	}
}

func checkEndSessions(t *testing.T, m *Manager) {
	const iss = "https://end.example"
	ctx := context.Background()
	a1 := signIn(t, m, Login{Issuer: iss, Subject: "alice", SID: "s1"})
	a2 := signIn(t, m, Login{Issuer: iss, Subject: "alice", SID: "s2"})
	a3 := signIn(t, m, Login{Issuer: iss, Subject: "alice", SID: "s3"})
	b := signIn(t, m, Login{Issuer: iss, Subject: "bob", SID: "s4"})
	bNoSID := signIn(t, m, Login{Issuer: iss, Subject: "bob"})
	other := signIn(t, m, Login{Issuer: "https://other.example", Subject: "alice", SID: "s1"})

	want := func(what string, n int, err error, wantN int, alive, dead []*http.Cookie) {
		t.Helper()
		if err != nil || n != wantN {
			t.Fatalf("%s: ended %d (err %v), want %d", what, n, err, wantN)
		}
		for _, c := range alive {
			if !loggedIn(t, m, c) {
				t.Fatalf("%s ended a session it should have left alone", what)
			}
		}
		for _, c := range dead {
			if loggedIn(t, m, c) {
				t.Fatalf("%s left a session alive", what)
			}
		}
	}
	n, err := m.EndSessions(ctx, iss, "", "unknown")
	want("an unknown sid", n, err, 0, []*http.Cookie{a1, a2, a3, b, bNoSID, other}, nil)
	n, err = m.EndSessions(ctx, iss, "", "")
	want("neither sid nor sub", n, err, 0, []*http.Cookie{a1, a2, a3, b, bNoSID, other}, nil)
	n, err = m.EndSessions(ctx, iss, "", "s1")
	want("sid s1", n, err, 1, []*http.Cookie{a2, a3, b, other}, []*http.Cookie{a1})
	n, err = m.EndSessions(ctx, iss, "bob", "s2")
	want("sid s2 with another user's sub", n, err, 0, []*http.Cookie{a2, a3, b}, nil)
	n, err = m.EndSessions(ctx, iss, "alice", "s2")
	want("sid s2 with its sub", n, err, 1, []*http.Cookie{a3, b}, []*http.Cookie{a2})
	n, err = m.EndSessions(ctx, iss, "bob", "")
	want("sub bob", n, err, 2, []*http.Cookie{a3, other}, []*http.Cookie{b, bNoSID})
	if keys, err := m.index.Find(ctx, iss, "bob", ""); err != nil || len(keys) != 0 {
		t.Fatalf("the index still lists bob's ended sessions: %v %v", keys, err)
	}
}

// checkInFlight: a request that loaded the session (and moved its
// last-seen time, so it will write) before the session is ended by end,
// and saves after, must not bring it back or leave it in the index.
func checkInFlight(t *testing.T, m *Manager, end func(t *testing.T, c *http.Cookie)) {
	const iss = "https://inflight.example"
	c := signIn(t, m, Login{Issuer: iss, Subject: "alice", SID: "s1"})
	slow := load(t, m, c) // a page request, still running
	end(t, c)
	if w := save(t, m, slow); len(w.Result().Cookies()) != 0 {
		t.Errorf("the ended session's response set a cookie: %v", w.Result().Cookies())
	}
	if loggedIn(t, m, c) {
		t.Fatal("a request in flight brought an ended session back")
	}
	if keys, _ := m.index.Find(context.Background(), iss, "alice", ""); len(keys) != 0 {
		t.Fatalf("the index lists %d ended sessions", len(keys))
	}
}

func checkHotPath(t *testing.T, m *Manager) {
	c := signIn(t, m, Login{Issuer: "https://hot.example", Subject: "alice", SID: "s1"})
	for i := range 3 {
		before := m.Stats()
		ctx := load(t, m, c)
		if _, ok := m.Login(ctx); !ok {
			t.Fatal("not signed in")
		}
		m.CSRFToken(ctx)
		w := save(t, m, ctx)
		after := m.Stats()
		if r, wr := after.Reads-before.Reads, after.Writes-before.Writes; r != 1 || wr != 0 {
			t.Fatalf("request %d: %d store reads and %d writes, want 1 and 0", i, r, wr)
		}
		if len(w.Result().Cookies()) != 0 {
			t.Fatalf("request %d: a cookie was sent again", i)
		}
	}
}

func checkClaims(t *testing.T, a, b *Manager) {
	ctx := context.Background()
	until := time.Now().Add(time.Minute)
	value := "jti-" + time.Now().Format(time.RFC3339Nano)
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	for i := range 8 {
		wg.Go(func() {
			m := a
			if i%2 == 1 {
				m = b
			}
			first, err := m.Claim(ctx, "jti", value, until)
			if err != nil {
				t.Error(err)
			}
			if first {
				mu.Lock()
				firsts++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firsts != 1 {
		t.Fatalf("%d concurrent claims of one value succeeded, want exactly 1", firsts)
	}
	if first, _ := b.Claim(ctx, "state", value, until); !first {
		t.Fatal("a claim for another purpose collided")
	}
	if err := a.Release(ctx, "jti", value); err != nil {
		t.Fatal(err)
	}
	if first, err := b.Claim(ctx, "jti", value, until); err != nil || !first {
		t.Fatalf("a released value could not be claimed again: %v %v", first, err)
	}
}

func checkSessionsList(t *testing.T, m *Manager) {
	const iss = "https://list.example"
	phone := signIn(t, m, Login{Issuer: iss, Subject: "alice", SID: "s1", Browser: "Firefox on Android"})
	laptop := signIn(t, m, Login{Issuer: iss, Subject: "alice", SID: "s2", Browser: "Chrome on Linux"})
	bob := signIn(t, m, Login{Issuer: iss, Subject: "bob", SID: "s3", Browser: "Safari on macOS"})
	signIn(t, m, Login{Issuer: "https://other.example", Subject: "alice", SID: "s4", Browser: "Edge on Windows"})

	ctx := load(t, m, laptop)
	list, err := m.Sessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("listed %d sessions, want alice's 2 at this issuer: %+v", len(list), list)
	}
	var current, other SessionInfo
	for _, s := range list {
		if s.Current {
			current = s
		} else {
			other = s
		}
	}
	if current.Browser != "Chrome on Linux" || other.Browser != "Firefox on Android" || current.ID == "" || other.ID == current.ID {
		t.Fatalf("listing: %+v", list)
	}
	if other.SignedInAt.IsZero() || other.LastSeen.IsZero() {
		t.Fatalf("times missing: %+v", other)
	}
	if strings.Contains(current.ID, storeKey(m.scs.Token(ctx))) {
		t.Fatal("the listing shows the store key")
	}

	bobCtx := load(t, m, bob)
	bobList, _ := m.Sessions(bobCtx)
	if len(bobList) != 1 {
		t.Fatalf("bob's listing: %+v", bobList)
	}
	if ended, err := m.EndSession(ctx, bobList[0].ID); err != nil || ended {
		t.Fatalf("alice ended bob's session: %v %v", ended, err)
	}
	if ended, err := m.EndSession(ctx, current.ID); err != nil || ended {
		t.Fatalf("EndSession ended the current session: %v %v", ended, err)
	}
	if ended, err := m.EndSession(ctx, other.ID); err != nil || !ended {
		t.Fatalf("EndSession of alice's other session: %v %v", ended, err)
	}
	if loggedIn(t, m, phone) || !loggedIn(t, m, laptop) || !loggedIn(t, m, bob) {
		t.Fatal("EndSession ended the wrong sessions")
	}
}

func checkShared(t *testing.T, a, b *Manager) {
	const iss = "https://shared.example"
	c := signIn(t, a, Login{Issuer: iss, Subject: "alice", SID: "s1"})
	if !loggedIn(t, b, c) {
		t.Fatal("a session made by one instance is unknown to the other")
	}
	if n, err := b.EndSessions(context.Background(), iss, "", "s1"); err != nil || n != 1 {
		t.Fatalf("EndSessions on the other instance: %d %v", n, err)
	}
	if loggedIn(t, a, c) {
		t.Fatal("a session ended by one instance is alive on the other")
	}
}

// TestStoreOutage takes a shared store away in the middle of a test: calls
// fail with ErrStore (never a panic, never another session), Ping reports
// it, and everything works again once the store is back, sessions included.
func TestStoreOutage(t *testing.T) {
	for _, st := range sessiontest.Shared(t) {
		t.Run(st.Name, func(t *testing.T) {
			t.Parallel()
			spec := st.New(t)
			proxy := sessiontest.NewProxy(t, sessiontest.Host(t, spec))
			m, err := Open(context.Background(), Options{Store: sessiontest.WithHost(t, spec, proxy.Addr()),
				Lifetime: time.Hour, StoreTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			c := signIn(t, m, Login{Issuer: "https://outage.example", Subject: "alice", SID: "s1"})

			proxy.Down()
			wantStoreDown(t, m, c)
			if _, err := m.EndSessions(context.Background(), "https://outage.example", "", "s1"); !errors.Is(err, ErrStore) {
				t.Fatalf("EndSessions with the store down: %v", err)
			}

			proxy.Up()
			waitPing(t, m)
			if !loggedIn(t, m, c) {
				t.Fatal("the session was lost in the outage")
			}
			signIn(t, m, Login{Issuer: "https://outage.example", Subject: "bob", SID: "s2"})
		})
	}
}

// TestPostgresDownAtStart: rp opens its store while PostgreSQL is down,
// reports it, and creates its tables once the server answers.
func TestPostgresDownAtStart(t *testing.T) {
	t.Parallel()
	spec := sessiontest.Postgres(t)
	proxy := sessiontest.NewProxy(t, sessiontest.Host(t, spec))
	proxy.Down()
	m, err := Open(context.Background(), Options{Store: sessiontest.WithHost(t, spec, proxy.Addr()),
		Lifetime: time.Hour, StoreTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open with PostgreSQL down: %v", err)
	}
	defer m.Close()
	if err := m.Ping(context.Background()); !errors.Is(err, ErrStore) {
		t.Fatalf("Ping: %v", err)
	}
	proxy.Up()
	waitPing(t, m)
	c := signIn(t, m, Login{Issuer: "https://late.example", Subject: "alice", SID: "s1"})
	if !loggedIn(t, m, c) {
		t.Fatal("no session after PostgreSQL came back")
	}
}

// TestPostgresInstancesStartTogether: several instances creating the tables
// of one new database at once all succeed.
func TestPostgresInstancesStartTogether(t *testing.T) {
	t.Parallel()
	spec := sessiontest.Postgres(t)
	var wg sync.WaitGroup
	ms := make([]*Manager, 6)
	for i := range ms {
		wg.Go(func() {
			m, err := Open(context.Background(), Options{Store: spec, Lifetime: time.Hour})
			if err != nil {
				t.Error(err)
				return
			}
			ms[i] = m
		})
	}
	wg.Wait()
	for i, m := range ms {
		if m == nil {
			t.FailNow()
		}
		defer m.Close()
		if err := m.Ping(context.Background()); err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	c := signIn(t, ms[0], Login{Issuer: "https://together.example", Subject: "alice"})
	if !loggedIn(t, ms[5], c) {
		t.Fatal("instances do not share sessions")
	}
}

func TestTokensAreKeptApartFromTheLogin(t *testing.T) {
	m, err := Open(context.Background(), Options{Store: "memory", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := signIn(t, m, Login{Issuer: "https://op", Subject: "alice", SID: "s1"})
	ctx := load(t, m, c)
	raw, _ := m.scs.Get(ctx, keyLogin).([]byte)
	if strings.Contains(string(raw), "id-token-of-alice") {
		t.Fatal("the login holds the tokens: every request would decode them")
	}
	if tok, ok, _ := m.Tokens(ctx); !ok || tok.IDToken != "id-token-of-alice" || tok.AccessToken != "at" {
		t.Fatalf("tokens: %+v %v", tok, ok)
	}
	if _, ok, _ := m.Tokens(load(t, m, nil)); ok {
		t.Fatal("tokens without a session")
	}
}

// failingAdd is an index whose Add fails, as a store that times out would.
type failingAdd struct{ Index }

func (failingAdd) Add(context.Context, string, IndexEntry) error {
	return errors.New("index unavailable")
}

// TestSignInWithoutIndexSignsNoOneIn: a session the index does not hold
// could never be ended by the provider, so a sign-in whose index write
// fails leaves no one signed in.
func TestSignInWithoutIndexSignsNoOneIn(t *testing.T) {
	m, err := Open(context.Background(), Options{Store: "memory", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.index.inner = failingAdd{m.index.inner}
	ctx := load(t, m, nil)
	if err := m.SignIn(ctx, Login{Issuer: "https://op", Subject: "alice", SID: "s1"}, Tokens{IDToken: "t"}); !errors.Is(err, ErrStore) {
		t.Fatalf("SignIn: %v", err)
	}
	w := save(t, m, ctx) // the error page's response saves the session
	for _, c := range w.Result().Cookies() {
		if loggedIn(t, m, c) {
			t.Fatal("signed in although the session is not in the index")
		}
	}
}

// TestProviderLogoutDuringSignInEndsTheNewSession: a back-channel logout
// that lands between SignIn (which indexes the session) and the session's
// first save must not leave a session that is missing from the index.
func TestProviderLogoutDuringSignInEndsTheNewSession(t *testing.T) {
	for _, st := range sessiontest.All(t) {
		t.Run(st.Name, func(t *testing.T) {
			m, err := Open(context.Background(), Options{Store: st.New(t), Lifetime: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			const iss = "https://race.example"
			ctx := load(t, m, nil)
			if err := m.SignIn(ctx, Login{Issuer: iss, Subject: "alice", SID: "s1"}, Tokens{IDToken: "t"}); err != nil {
				t.Fatal(err)
			}
			if _, err := m.EndSessions(context.Background(), iss, "", "s1"); err != nil {
				t.Fatal(err)
			}
			w := save(t, m, ctx)
			if cs := w.Result().Cookies(); len(cs) != 0 {
				t.Errorf("a cookie for an ended session: %v", cs)
			}
			if _, found, _ := m.backend.store.FindCtx(context.Background(), storeKey(m.scs.Token(ctx))); found {
				t.Fatal("the session was saved although a logout ended it: no logout could ever find it")
			}
		})
	}
}

// TestPostgresLeastPrivilege: once the tables exist, rp runs with a role
// that may only read and write rows (no CREATE, not the tables' owner).
func TestPostgresLeastPrivilege(t *testing.T) {
	t.Parallel()
	admin := sessiontest.PostgresAdmin(t)
	role := "rp_app_" + strings.ToLower(rand.Text()[:8])
	// A password, for servers that ask for one (trust ignores it).
	sessiontest.Exec(t, admin, "CREATE ROLE "+role+" LOGIN PASSWORD '"+role+"'")
	t.Cleanup(func() { sessiontest.Exec(t, admin, "DROP ROLE IF EXISTS "+role) }) // after the database is dropped
	spec := sessiontest.Postgres(t)

	owner, err := Open(context.Background(), Options{Store: spec, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	owner.Close()
	sessiontest.Exec(t, spec, "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "+role)

	u, _ := url.Parse(spec)
	u.User = url.UserPassword(role, role)
	m, err := Open(context.Background(), Options{Store: u.String(), Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Ping(context.Background()); err != nil {
		t.Fatalf("a role without DDL rights is not ready: %v", err)
	}
	c := signIn(t, m, Login{Issuer: "https://least.example", Subject: "alice", SID: "s1"})
	if n, err := m.EndSessions(context.Background(), "https://least.example", "", "s1"); err != nil || n != 1 || loggedIn(t, m, c) {
		t.Fatalf("EndSessions: %d %v", n, err)
	}
	if err := m.index.DeleteExpired(context.Background(), time.Now()); err != nil {
		t.Fatalf("pruning: %v", err)
	}
}
