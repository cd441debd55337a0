package keycloak

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// appAnswer is what the app behind rp answers to every request.
const appAnswer = "the app behind rp"

// startApp is an app for rp to protect (RP_UPSTREAM), until the test ends.
func startApp(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, appAnswer)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// startPeer starts a second rp with the settings of another (its
// RP_BASE_URL included), on its own port: two replicas behind one address,
// sharing env's session store. The browser sends it the same cookie,
// since cookies ignore ports. Base is the replica's own address.
func startPeer(t testing.TB, ln net.Listener, base string, env map[string]string) *rpInstance {
	t.Helper()
	r := startRP(t, ln, env)
	r.Base = base
	r.waitReady(t)
	return r
}

// storeKey is the key rp stores the session of a cookie under
// (session.storeKey): the cookie value never reaches the store.
func storeKey(cookie string) string {
	h := sha256.Sum256([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// stored reports whether the store r uses holds the session of the
// cookie, and its sid/sub index entry, read without a request.
func (r *rpInstance) stored(t testing.TB, cookie string) (session, entry bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	session, entry, err := r.App.Sessions.Stored(ctx, storeKey(cookie))
	if err != nil {
		t.Fatalf("reading the session store: %v", err)
	}
	return session, entry
}

// signInAs is SignIn that also grants consent when Keycloak asks for it
// (clients with "Consent required").
func (r *rpInstance) signInAs(t testing.TB, b *browser, u user, consent bool) {
	t.Helper()
	if !consent {
		r.SignIn(t, b, u)
		return
	}
	p := b.Last(t, b.Get(t, r.Base+"/login"))
	p = b.LogIn(t, p, u)
	if !p.IsRedirect() {
		t.Fatalf("Keycloak refused %s's password: %s\n%s", u.Username, p, p.Body)
	}
	p = b.Last(t, p)
	var grant *form
	for _, f := range forms(p.Body) {
		if strings.Contains(f.Action, "/login-actions/consent") {
			grant = &f
		}
	}
	if grant == nil {
		t.Fatalf("%s: Keycloak asked for no consent:\n%s", p, p.Body)
	}
	v := grant.Values()
	v.Set("accept", "Yes") // the "Yes" button
	p = b.Post(t, grant.Resolve(t, p), v, "")
	if !p.IsRedirect() || !strings.HasPrefix(p.Location(t).String(), r.Base+"/callback?") {
		t.Fatalf("after consent: %s, want a redirect to %s/callback", p, r.Base)
	}
	if p = b.Last(t, p); p.Status != http.StatusOK || b.Cookie(r.Base+"/", r.Cookie) == "" {
		t.Fatalf("sign-in ended on %s without a session cookie", p)
	}
}

// wantSignIn fails unless p sends the browser into rp's sign-in.
func wantSignIn(t testing.TB, what string, p page) {
	t.Helper()
	if !p.IsRedirect() || p.Location(t).Path != "/login" {
		t.Errorf("%s: %s, want a redirect into sign-in", what, p)
	}
}

// wantOpen fails unless p is a page rp let the browser see.
func wantOpen(t testing.TB, what string, p page, body string) {
	t.Helper()
	if p.Status != http.StatusOK || !strings.Contains(p.Body, body) {
		t.Errorf("%s: %s, want 200 with %q", what, p, body)
	}
}

// untilSignIn repeats the browser's request of target while rp lets it
// through, and returns the first answer that sends it into sign-in: the
// request after the access token is due, whose refresh Keycloak refuses.
// It fails after a minute (tokens live a few seconds here).
func untilSignIn(t testing.TB, b *browser, target string) page {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		p := b.Get(t, target)
		if p.IsRedirect() {
			return p
		}
		if p.Status != http.StatusOK {
			t.Fatalf("%s while waiting for the refresh", p)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still open a minute after the logout at Keycloak", target)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// intoNextSecond returns once the wall clock is in a second after now's.
// Keycloak keeps a user's "not before" (set by an admin's "Sign out") in
// whole seconds and refuses only tokens issued in an earlier second: a
// token issued in the same second as the logout would still refresh.
func intoNextSecond() {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second).Sub(now))
}
