package session

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

// signIn runs one request through Load, SignIn and Save, and returns the
// cookie the browser would get.
func signIn(t *testing.T, m *Manager, l Login) *http.Cookie {
	t.Helper()
	r, err := m.Load(httptest.NewRequest("GET", "/callback", nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SignIn(r.Context(), l, Tokens{IDToken: "id-token-of-" + l.Subject, AccessToken: "at"}); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if err := m.Save(r.Context(), w); err != nil {
		t.Fatal(err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies: %v", cookies)
	}
	return cookies[0]
}

func loggedIn(t *testing.T, m *Manager, c *http.Cookie) bool {
	t.Helper()
	req := httptest.NewRequest("GET", "/profile", nil)
	req.AddCookie(c)
	r, err := m.Load(req)
	if err != nil {
		t.Fatal(err)
	}
	_, ok := m.Login(r.Context())
	return ok
}

// TestEndSessionsByIndex checks that the index's keys are the store's keys
// (scs hashes tokens), so ending sessions by sid or sub really ends them,
// and only them.
func TestEndSessionsByIndex(t *testing.T) {
	for _, store := range []string{"memory", "sqlite:" + filepath.Join(t.TempDir(), "s.db")} {
		t.Run(store[:6], func(t *testing.T) {
			m, err := Open(context.Background(), Options{Store: store, Lifetime: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			const iss = "https://op.example"
			a1 := signIn(t, m, Login{Issuer: iss, Subject: "alice", SID: "s1", SignedInAt: time.Now()})
			a2 := signIn(t, m, Login{Issuer: iss, Subject: "alice", SID: "s2", SignedInAt: time.Now()})
			b := signIn(t, m, Login{Issuer: iss, Subject: "bob", SID: "s3", SignedInAt: time.Now()})
			other := signIn(t, m, Login{Issuer: "https://other.example", Subject: "alice", SID: "s1", SignedInAt: time.Now()})

			n, err := m.EndSessions(context.Background(), iss, "", "s1")
			if err != nil || n != 1 {
				t.Fatalf("by sid: n=%d err=%v", n, err)
			}
			if loggedIn(t, m, a1) || !loggedIn(t, m, a2) || !loggedIn(t, m, b) || !loggedIn(t, m, other) {
				t.Fatal("ending by sid hit the wrong sessions")
			}
			n, err = m.EndSessions(context.Background(), iss, "alice", "")
			if err != nil || n != 1 {
				t.Fatalf("by sub: n=%d err=%v", n, err)
			}
			if loggedIn(t, m, a2) || !loggedIn(t, m, b) || !loggedIn(t, m, other) {
				t.Fatal("ending by sub hit the wrong sessions")
			}
			if n, _ := m.EndSessions(context.Background(), iss, "", ""); n != 0 {
				t.Fatalf("an empty query ended %d sessions", n)
			}
		})
	}
}

func load(t *testing.T, m *Manager, c *http.Cookie) context.Context {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	if c != nil {
		req.AddCookie(c)
	}
	r, err := m.Load(req)
	if err != nil {
		t.Fatal(err)
	}
	return r.Context()
}

func save(t *testing.T, m *Manager, ctx context.Context) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := m.Save(ctx, w); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestARequestInFlightCannotUndoALogout: with an idle timeout every request
// saves its session; one that loaded it before a logout and saves after
// must not bring it back.
func TestARequestInFlightCannotUndoALogout(t *testing.T) {
	m, err := Open(context.Background(), Options{Store: "memory", Lifetime: time.Hour, IdleTimeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := signIn(t, m, Login{Issuer: "https://op", Subject: "alice", SID: "s1"})

	slow := load(t, m, c) // a page request, still running
	logout := load(t, m, c)
	if _, err := m.SignOut(logout); err != nil {
		t.Fatal(err)
	}
	save(t, m, logout)

	m.CSRFToken(slow) // and it changes something
	if w := save(t, m, slow); len(w.Result().Cookies()) != 0 {
		t.Errorf("the ended session's response set a cookie: %v", w.Result().Cookies())
	}
	if loggedIn(t, m, c) {
		t.Fatal("a request in flight brought an ended session back")
	}
	if n, _ := m.EndSessions(context.Background(), "https://op", "alice", ""); n != 0 {
		t.Fatalf("the index still lists %d sessions", n)
	}
}
