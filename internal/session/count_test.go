package session

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/session/sessiontest"
)

// TestCountActive: the stores that can count their sessions count exactly
// the signed-in ones whose lifetime has not ended, across instances, and
// forget those ended by a logout; Redis says it cannot.
func TestCountActive(t *testing.T) {
	for _, st := range sessiontest.All(t) {
		t.Run(st.Name, func(t *testing.T) {
			t.Parallel()
			spec := st.New(t)
			var skew atomic.Int64
			open := func() *Manager {
				m, err := Open(context.Background(), Options{Store: spec, Lifetime: time.Hour,
					Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				return m
			}
			m := open()
			if st.Name == "redis" {
				if m.CanCount() {
					t.Fatal("Redis claims to count its sessions cheaply")
				}
				if _, err := m.CountActive(context.Background()); err == nil {
					t.Fatal("CountActive on Redis did not fail")
				}
				return
			}
			if !m.CanCount() {
				t.Fatalf("%s cannot count its sessions", st.Name)
			}
			count := func(m *Manager) int64 {
				t.Helper()
				n, err := m.CountActive(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := count(m); n != 0 {
				t.Fatalf("an empty store counts %d sessions", n)
			}
			const iss = "https://count.example"
			signIn(t, m, Login{Issuer: iss, Subject: "alice", SID: "a1"})
			signIn(t, m, Login{Issuer: iss, Subject: "alice", SID: "a2"})
			bob := signIn(t, m, Login{Issuer: iss, Subject: "bob", SID: "b1"})
			if n := count(m); n != 3 {
				t.Fatalf("3 sign-ins count %d", n)
			}
			if n, err := m.EndSessions(context.Background(), iss, "", "a1"); err != nil || n != 1 {
				t.Fatalf("EndSessions: %d %v", n, err)
			}
			ctx := load(t, m, bob)
			if _, err := m.SignOut(ctx); err != nil {
				t.Fatal(err)
			}
			if n := count(m); n != 1 {
				t.Fatalf("after two logouts the store counts %d sessions, want 1", n)
			}
			if st.Name != "memory" {
				if n := count(open()); n != 1 {
					t.Fatalf("another instance counts %d sessions, want 1", n)
				}
			}
			skew.Store(int64(time.Hour + time.Minute)) // alice's last session's lifetime ended
			if n := count(m); n != 0 {
				t.Fatalf("a session past its lifetime still counts: %d", n)
			}
			// With an idle timeout, an idle session stops counting at its
			// idle deadline, long before its lifetime ends.
			skew.Store(0)
			idle, err := Open(context.Background(), Options{Store: st.New(t), Lifetime: 12 * time.Hour, IdleTimeout: 30 * time.Minute,
				Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { idle.Close() })
			signIn(t, idle, Login{Issuer: iss, Subject: "carol", SID: "c1"})
			if n := count(idle); n != 1 {
				t.Fatalf("a fresh session with an idle timeout counts %d", n)
			}
			skew.Store(int64(31 * time.Minute))
			if n := count(idle); n != 0 {
				t.Fatalf("a session idle past its idle timeout still counts: %d", n)
			}
			if s := m.Stats(); s.Errors != 0 {
				t.Fatalf("store errors: %+v", s)
			}
		})
	}
}
