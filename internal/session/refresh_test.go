package session

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/session/sessiontest"
)

func signInWith(t *testing.T, m *Manager, l Login, tok Tokens) *http.Cookie {
	t.Helper()
	ctx := load(t, m, nil)
	if err := m.SignIn(ctx, l, tok); err != nil {
		t.Fatal(err)
	}
	w := save(t, m, ctx)
	return w.Result().Cookies()[0]
}

func due(t Tokens) bool { return !time.Now().Before(t.RefreshAt) }

// rotating is a provider's refresh: each call rotates the refresh token.
type rotating struct {
	calls atomic.Int32
	delay time.Duration
	sent  sync.Map // refresh tokens sent
}

func (p *rotating) refresh(tb testing.TB) Refresh {
	return Refresh{Due: due, Wait: 5 * time.Second, Hold: 5 * time.Second,
		Do: func(ctx context.Context, t Tokens) (Tokens, json.RawMessage, error) {
			if _, reused := p.sent.LoadOrStore(t.RefreshToken, true); reused {
				tb.Errorf("refresh token %q sent twice: a rotated one was lost", t.RefreshToken)
			}
			n := p.calls.Add(1)
			time.Sleep(p.delay)
			return Tokens{IDToken: t.IDToken, AccessToken: "at-" + string(rune('0'+n)),
					RefreshToken: "rt-" + string(rune('0'+n)), RefreshAt: time.Now().Add(time.Hour)},
				json.RawMessage(`{"groups":["refreshed-` + string(rune('0'+n)) + `"]}`), nil
		}}
}

func dueTokens() Tokens {
	return Tokens{IDToken: "id", AccessToken: "at-0", RefreshToken: "rt-0", RefreshAt: time.Now().Add(-time.Second)}
}

func TestRefreshContract(t *testing.T) {
	for _, st := range sessiontest.All(t) {
		t.Run(st.Name, func(t *testing.T) {
			t.Parallel()
			spec := st.New(t)
			open := func(t *testing.T) *Manager {
				m, err := Open(context.Background(), Options{Store: spec, Lifetime: time.Hour, IdleTimeout: time.Hour, TouchEvery: time.Nanosecond})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				return m
			}
			a := open(t)
			b := a
			if st.Name != "memory" {
				b = open(t)
			}
			t.Run("OnceUnderConcurrentRequestsOnTwoInstances", func(t *testing.T) { checkRefreshOnce(t, a, b) })
			t.Run("StaleSaveKeepsTheRotatedToken", func(t *testing.T) { checkStaleSave(t, a, b) })
			t.Run("LogoutDuringRefresh", func(t *testing.T) { checkRefreshAfterLogout(t, a) })
			t.Run("ProviderLogoutDeletesTokens", func(t *testing.T) {
				c := signInWith(t, a, Login{Issuer: "https://tok-end.example", Subject: "alice", SID: "s1"}, dueTokens())
				if n, err := a.EndSessions(context.Background(), "https://tok-end.example", "", "s1"); err != nil || n != 1 {
					t.Fatal(n, err)
				}
				if _, found, err := a.readTokens(context.Background(), storeKey(c.Value)); err != nil || found {
					t.Fatalf("the tokens of an ended session are still stored: %v %v", found, err)
				}
			})
		})
	}
}

func checkRefreshOnce(t *testing.T, a, b *Manager) {
	c := signInWith(t, a, Login{Issuer: "https://once.example", Subject: "alice", SID: "s1"}, dueTokens())
	p := &rotating{delay: 200 * time.Millisecond}
	// 50 requests in flight at once, half on each instance, all loaded
	// before any refresh.
	type inflight struct {
		m   *Manager
		ctx context.Context
	}
	var reqs []inflight
	for i := range 50 {
		m := a
		if i%2 == 1 {
			m = b
		}
		ctx := load(t, m, c)
		if !m.RefreshDue(ctx) {
			t.Fatal("a due refresh is not seen as due")
		}
		reqs = append(reqs, inflight{m, ctx})
	}
	var wg sync.WaitGroup
	for _, rq := range reqs {
		m, ctx := rq.m, rq.ctx
		wg.Go(func() {
			got, err := m.Refresh(ctx, p.refresh(t))
			if err != nil {
				t.Error(err)
				return
			}
			if got.AccessToken != "at-1" || got.RefreshToken != "rt-1" {
				t.Errorf("a request got %+v", got)
			}
		})
	}
	wg.Wait()
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("%d refreshes for one session under 50 concurrent requests on two instances; want 1", n)
	}
	ctx := load(t, b, c)
	if b.RefreshDue(ctx) {
		t.Fatal("still due after the refresh")
	}
	if tok, ok, err := b.Tokens(ctx); err != nil || !ok || tok.RefreshToken != "rt-1" {
		t.Fatalf("stored tokens after the refresh: %+v %v %v", tok, ok, err)
	}
}

func checkStaleSave(t *testing.T, a, b *Manager) {
	c := signInWith(t, a, Login{Issuer: "https://stale.example", Subject: "alice", SID: "s1"}, dueTokens())
	stale := load(t, a, c) // loaded before the refresh; touched (TouchEvery 1ns)
	p := &rotating{}
	if _, err := b.Refresh(load(t, b, c), p.refresh(t)); err != nil {
		t.Fatal(err)
	}
	save(t, a, stale) // writes its copy of the session's data back
	ctx := load(t, a, c)
	if tok, ok, err := a.Tokens(ctx); err != nil || !ok || tok.RefreshToken != "rt-1" {
		t.Fatalf("a stale save brought back the rotated-away refresh token: %+v %v %v", tok, ok, err)
	}
	// The stale save took back the hint and the claims: the next request
	// finds it due, the refresh finds the stored tokens fresh, makes no
	// provider call, and heals the session's data from the record.
	if l, _ := a.Login(ctx); string(l.Claims) == `{"groups":["refreshed-1"]}` {
		t.Fatal("the stale save did not take the claims back: the test proves nothing")
	}
	if !a.RefreshDue(ctx) {
		t.Fatal("the stale hint is not due: the test proves nothing")
	}
	if _, err := a.Refresh(ctx, p.refresh(t)); err != nil {
		t.Fatal(err)
	}
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("%d provider calls; a stale hint must not cause a second refresh", n)
	}
	healed := load(t, a, c)
	if a.RefreshDue(healed) {
		t.Fatal("still due after healing: every request would take the slow path")
	}
	if l, _ := a.Login(healed); string(l.Claims) != `{"groups":["refreshed-1"]}` {
		t.Fatalf("claims after healing: %s", l.Claims)
	}
}

func checkRefreshAfterLogout(t *testing.T, m *Manager) {
	c := signInWith(t, m, Login{Issuer: "https://gone.example", Subject: "alice", SID: "s1"}, dueTokens())
	inflight := load(t, m, c)
	logout := load(t, m, c)
	if _, err := m.SignOut(logout); err != nil {
		t.Fatal(err)
	}
	save(t, m, logout)
	p := &rotating{}
	if _, err := m.Refresh(inflight, p.refresh(t)); !errors.Is(err, ErrEnded) {
		t.Fatalf("refresh of a logged-out session: %v; want ErrEnded", err)
	}
	if p.calls.Load() != 0 {
		t.Fatal("a logged-out session's refresh token was used")
	}
	if _, found, _ := m.readTokens(context.Background(), storeKey(c.Value)); found {
		t.Fatal("tokens outlive the logout")
	}
}
