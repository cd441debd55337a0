package session

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// browserJar replays the cookies of responses, as a browser does.
type browserJar map[string]*http.Cookie

func (j browserJar) take(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(j, c.Name)
		} else {
			j[c.Name] = c
		}
	}
}

func (j browserJar) request(target string) *http.Request {
	r := httptest.NewRequest("GET", target, nil)
	for _, c := range j {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return r
}

func openMemory(t *testing.T, o Options) *Manager {
	t.Helper()
	o.Store = "memory"
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

func TestPendingLivesInTheBrowserNotTheStore(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := openMemory(t, Options{Now: func() time.Time { return now }, SecureCookie: true})
	jar := browserJar{}
	long := "/" + strings.Repeat("r", 2047) // the longest return_to rp keeps
	w := httptest.NewRecorder()
	if err := m.AddPending(w, jar.request("/login"), PendingAuth{State: "STATE1", Nonce: "n", Verifier: "v", ReturnTo: long, Created: now}); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Writes != 0 || st.Reads != 0 {
		t.Fatalf("a sign-in in flight made %d store writes and %d reads", st.Writes, st.Reads)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("cookies: %v", cs)
	}
	c := cs[0]
	if c.Name != "__Host-rp_session_signin_STATE1" || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" ||
		c.SameSite != http.SameSiteLaxMode || c.MaxAge != int(PendingLifetime/time.Second) {
		t.Fatalf("cookie attributes: %+v", c)
	}
	if n := len(c.Name) + len(c.Value); n > 4000 {
		t.Fatalf("the cookie of the longest return_to is %d bytes; browsers keep at most 4096", n)
	}
	for _, secret := range []string{"STATE1x", "rrrrrrrr", `"n"`, `"v"`} {
		if strings.Contains(c.Value, secret) {
			t.Fatalf("the cookie shows %s", secret)
		}
	}
	jar.take(t, w)

	w = httptest.NewRecorder()
	copied := jar.request("/callback")
	p, taken := m.TakePending(w, copied, "STATE1")
	if taken != PendingTaken || p.Nonce != "n" || p.Verifier != "v" || p.ReturnTo != long {
		t.Fatalf("took %+v %v", p, taken)
	}
	if st := m.Stats(); st.Writes != 0 || st.Reads != 0 {
		t.Fatalf("taking a sign-in made %d store writes and %d reads", st.Writes, st.Reads)
	}
	jar.take(t, w)
	if len(jar) != 0 {
		t.Fatalf("the sign-in's cookie is left: %v", jar)
	}
	if _, taken := m.TakePending(httptest.NewRecorder(), jar.request("/callback"), "STATE1"); taken != NoPending {
		t.Fatalf("a sign-in was taken twice by one browser: %v", taken)
	}
	// Whoever copied the cookie gets nothing from it on this instance, so
	// it cannot make rp redeem codes at the provider again and again.
	if _, taken := m.TakePending(httptest.NewRecorder(), copied, "STATE1"); taken != PendingReplayed {
		t.Fatalf("a copy of a used cookie: %v, want PendingReplayed", taken)
	}
}

func TestPendingRefusals(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	m := openMemory(t, Options{Now: clock})
	jar := browserJar{}
	w := httptest.NewRecorder()
	if err := m.AddPending(w, jar.request("/login"), PendingAuth{State: "ABC", Created: now}); err != nil {
		t.Fatal(err)
	}
	jar.take(t, w)
	good := jar["rp_session_signin_ABC"].Value

	other := openMemory(t, Options{Now: clock}) // another secret
	for _, tc := range []struct {
		name        string
		m           *Manager
		cookie      string // name suffix after _signin_
		value       string
		state       string
		want        Taken
		wantDeleted bool
	}{
		{"another state", m, "ABC", good, "ABD", NoPending, false},
		{"empty state", m, "ABC", good, "", NoPending, false},
		{"a state that cannot name a cookie", m, "ABC", good, "A;B", NoPending, false},
		{"moved to another state's name", m, "XYZ", good, "XYZ", PendingBad, true},
		{"tampered", m, "ABC", good[:len(good)-3] + "AAA", "ABC", PendingBad, true},
		{"sealed with another secret", other, "ABC", good, "ABC", PendingBad, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/callback", nil)
			r.AddCookie(&http.Cookie{Name: "rp_session_signin_" + tc.cookie, Value: tc.value})
			w := httptest.NewRecorder()
			if _, taken := tc.m.TakePending(w, r, tc.state); taken != tc.want {
				t.Fatalf("taken %v, want %v", taken, tc.want)
			}
			if deleted := len(w.Result().Cookies()) == 1 && w.Result().Cookies()[0].MaxAge < 0; deleted != tc.wantDeleted {
				t.Fatalf("cookie deleted: %v, want %v", deleted, tc.wantDeleted)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		defer func(saved time.Time) { now = saved }(now)
		now = now.Add(PendingLifetime + time.Second)
		if _, taken := m.TakePending(httptest.NewRecorder(), jar.request("/callback"), "ABC"); taken != PendingBad {
			t.Fatalf("an expired sign-in: %v", taken)
		}
	})
}

// TestPendingInFlightAreBounded: several tabs may sign in at once, but a
// browser holds at most maxPending, and at most maxPendingBytes of them;
// the oldest give way.
func TestPendingInFlightAreBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := openMemory(t, Options{Now: func() time.Time { return now }})
	jar := browserJar{}
	add := func(state, returnTo string) {
		t.Helper()
		w := httptest.NewRecorder()
		if err := m.AddPending(w, jar.request("/login"), PendingAuth{State: state, ReturnTo: returnTo, Created: now}); err != nil {
			t.Fatal(err)
		}
		jar.take(t, w)
		now = now.Add(time.Second)
	}
	for _, s := range []string{"A", "B", "C", "D", "E", "F"} {
		add(s, "/")
	}
	if len(jar) != maxPending {
		t.Fatalf("%d sign-ins in flight, want %d", len(jar), maxPending)
	}
	if _, ok := jar["rp_session_signin_A"]; ok {
		t.Fatal("the oldest sign-in was kept, not the newest")
	}
	for range 4 {
		add(strings.Repeat("L", 10)+time.Unix(now.Unix(), 0).Format("150405"), "/"+strings.Repeat("x", 2000))
	}
	total := 0
	for _, c := range jar {
		total += len(c.Name) + len(c.Value)
	}
	if total > maxPendingBytes {
		t.Fatalf("%d bytes of sign-ins in flight, want at most %d", total, maxPendingBytes)
	}
	if _, ok := jar["rp_session_signin_F"]; ok {
		t.Fatal("long sign-ins did not push out old ones")
	}
	// The newest is always kept.
	if len(jar) == 0 {
		t.Fatal("no sign-in kept")
	}
}

func TestSeenStatesAreBounded(t *testing.T) {
	var s seenStates
	now := time.Unix(1_800_000_000, 0)
	until := now.Add(PendingLifetime)
	if !s.first("a", now, until) || s.first("a", now, until) {
		t.Fatal("a state taken twice")
	}
	if !s.first("a", until.Add(time.Second), until.Add(time.Hour)) {
		t.Fatal("an expired entry is still remembered")
	}
	for i := range maxSeenStates + 10 {
		s.first(string(rune(i))+"x", now, until)
	}
	if len(s.until) > maxSeenStates || len(s.order) > maxSeenStates {
		t.Fatalf("%d states remembered, want at most %d", len(s.until), maxSeenStates)
	}
}

// TestPendingJunkCookies: a request carrying thousands of cookies named
// like sign-ins gets a bounded answer, and a sign-in that cannot fit in a
// cookie is refused rather than sent for the browser to drop.
func TestPendingJunkCookies(t *testing.T) {
	m := openMemory(t, Options{})
	r := httptest.NewRequest("GET", "/login", nil)
	for i := range 3000 {
		r.AddCookie(&http.Cookie{Name: "rp_session_signin_J" + strconv.Itoa(i), Value: "x"})
	}
	w := httptest.NewRecorder()
	if err := m.AddPending(w, r, PendingAuth{State: "NEW"}); err != nil {
		t.Fatal(err)
	}
	if n := len(w.Result().Cookies()); n > maxPendingSeen+1 {
		t.Fatalf("%d Set-Cookie lines for one /login", n)
	}
	huge := PendingAuth{State: "BIG", ReturnTo: "/" + strings.Repeat("\x01", 1500)}
	if err := m.AddPending(httptest.NewRecorder(), httptest.NewRequest("GET", "/login", nil), huge); !errors.Is(err, ErrPendingTooLarge) {
		t.Fatalf("an oversized sign-in: %v", err)
	}
}

func TestLogoutNoticeLivesInTheBrowser(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := openMemory(t, Options{Now: func() time.Time { return now }})
	w := httptest.NewRecorder()
	if err := m.PutLogoutNotice(w, LogoutNotice{State: "st", Provider: true}); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Writes != 0 {
		t.Fatalf("the notice made %d store writes", st.Writes)
	}
	jar := browserJar{}
	jar.take(t, w)
	w = httptest.NewRecorder()
	n, had := m.TakeLogoutNotice(w, jar.request("/logged-out"))
	if !had || n.State != "st" || !n.Provider {
		t.Fatalf("notice %+v %v", n, had)
	}
	jar.take(t, w)
	if _, had := m.TakeLogoutNotice(httptest.NewRecorder(), jar.request("/logged-out")); had {
		t.Fatal("the notice was read twice")
	}
	// A sign-in's cookie is not a notice, even under the notice's name.
	w = httptest.NewRecorder()
	if err := m.AddPending(w, jar.request("/login"), PendingAuth{State: "S", Created: now}); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/logged-out", nil)
	r.AddCookie(&http.Cookie{Name: "rp_session_logout", Value: w.Result().Cookies()[0].Value})
	if _, had := m.TakeLogoutNotice(httptest.NewRecorder(), r); had {
		t.Fatal("a sign-in cookie was read as a logout notice")
	}
}

// TestClaimStateOnce: concurrent callbacks presenting the same sign-in
// (the store contract checks claims across instances): exactly one may
// proceed.
func TestClaimStateOnce(t *testing.T) {
	m, err := Open(context.Background(), Options{Store: "sqlite:" + t.TempDir() + "/s.db", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p := PendingAuth{State: "ST", Created: time.Now()}
	var wg sync.WaitGroup
	firsts := make(chan bool, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, err := m.ClaimState(context.Background(), p)
			if err != nil {
				t.Error(err)
			}
			firsts <- first
		}()
	}
	wg.Wait()
	close(firsts)
	n := 0
	for f := range firsts {
		if f {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d callbacks claimed the state, want 1", n)
	}
}
