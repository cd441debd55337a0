package web_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/session/sessiontest"
	"github.com/rp-project/rp/internal/testprovider"
)

// TestSignInFinishesOnAnotherInstance: a sign-in started on one instance
// finishes on another sharing the store: both seal with the same key
// (derived from the client secret, or RP_COOKIE_SECRET), and the state is
// claimed in the shared store once.
func TestSignInFinishesOnAnotherInstance(t *testing.T) {
	oldSecret := "hX3kQ9vLmP2wRt7YbN4cZ8sJfG6dA1eU"
	newSecret := "Wq5Tz0Rk+yH3nVb8Lm/P2xC7aS9dF4gJ1uE6iO0o"
	for _, tc := range []struct {
		name       string
		start, end map[string]string
		ok         bool
	}{
		{"derived from the client secret", nil, nil, true},
		{"RP_COOKIE_SECRET", map[string]string{"RP_COOKIE_SECRET": newSecret}, map[string]string{"RP_COOKIE_SECRET": newSecret}, true},
		{"rotated: the old secret still opens", map[string]string{"RP_COOKIE_SECRET": oldSecret},
			map[string]string{"RP_COOKIE_SECRET": newSecret + " " + oldSecret}, true},
		{"another secret", map[string]string{"RP_COOKIE_SECRET": oldSecret}, map[string]string{"RP_COOKIE_SECRET": newSecret}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClusterOf(t, testprovider.New(t), sessiontest.SQLite(t), tc.start, tc.end)
			c.use(0)
			callback := c.startLogin("/profile")
			c.use(1)
			r := c.get(callback)
			if !tc.ok {
				if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "Sign-in expired") {
					t.Fatalf("a sign-in sealed with another secret: %d %.300s", r.StatusCode, r.body)
				}
				return
			}
			if got := c.expectRedirect(r, http.StatusSeeOther); got != "/profile" {
				t.Fatalf("callback on the other instance redirects to %q", got)
			}
			if !c.signedIn(c.client) {
				t.Fatal("not signed in")
			}
		})
	}
}

// TestCallbackReplayedIsRefused: the same callback, cookie included, sent
// again (as an attacker who copied both would) never signs in twice. On
// the instance that took it, the copy does not even reach the provider
// (each copy would otherwise make rp redeem a code there); on another
// instance, the state claimed in the shared store refuses it, even with a
// provider that redeems a code twice. Both are security events.
func TestCallbackReplayedIsRefused(t *testing.T) {
	var logs bytes.Buffer
	op := testprovider.New(t)
	op.Set(func(k *testprovider.Knobs) { k.ReuseCodes = true })
	c := newClusterLogged(t, op, sessiontest.SQLite(t), &logs, nil, nil)
	c.use(0)
	authURL := c.expectRedirect(c.get("/login"), http.StatusSeeOther)
	state := mustURL(t, authURL).Query().Get("state")
	cookie := c.cookieNamed(c.client, "rp_session_signin_"+state)
	callback := c.expectRedirect(c.get(authURL), http.StatusFound)
	first := c.clientWithCookie(cookie)
	if r := c.getWith(first, callback); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("first callback: %d", r.StatusCode)
	}

	tokens := op.Count("token")
	again := c.clientWithCookie(cookie)
	if r := c.getWith(again, callback); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("a copy replayed to the same instance: %d, want 400", r.StatusCode)
	}
	if n := op.Count("token") - tokens; n != 0 {
		t.Fatalf("a copy replayed to the same instance made %d token requests", n)
	}
	if !strings.Contains(logs.String(), "a copy of a sign-in cookie already used here") {
		t.Errorf("no security event for the copy on the same instance:\n%s", logs.String())
	}

	c.use(1)
	elsewhere := c.clientWithCookie(cookie)
	if r := c.getWith(elsewhere, callback); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("a copy replayed to another instance: %d, want 400", r.StatusCode)
	}
	if c.signedIn(again) || c.signedIn(elsewhere) {
		t.Fatal("a replayed callback signed in")
	}
	if !c.signedIn(first) {
		t.Fatal("the replay ended the genuine session")
	}
	if !strings.Contains(logs.String(), "its state was already used") {
		t.Errorf("no security event for the copy on another instance:\n%s", logs.String())
	}
}

// TestTamperedSignInCookieIsRefused: a sign-in cookie changed in the
// browser, or moved to another state's name, gets the expired page, is
// deleted, and is logged as a security event.
func TestTamperedSignInCookieIsRefused(t *testing.T) {
	var logs bytes.Buffer
	h := newHarness(t, withLogs(&logs))
	authURL := h.expectRedirect(h.get("/login"), http.StatusSeeOther)
	state := mustURL(t, authURL).Query().Get("state")
	cookie := h.cookieNamed(h.client, "rp_session_signin_"+state)
	callback := h.expectRedirect(h.get(authURL), http.StatusFound)
	v := []byte(cookie.Value)
	v[len(v)/2] ^= 1
	if v[len(v)/2] == '.' {
		v[len(v)/2] = 'A'
	}
	b := h.clientWithCookie(&http.Cookie{Name: cookie.Name, Value: string(v)})
	r := h.getWith(b, callback)
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "Sign-in expired") {
		t.Fatalf("a tampered sign-in cookie: %d %.300s", r.StatusCode, r.body)
	}
	deleted := false
	for _, c := range r.Cookies() {
		deleted = deleted || c.Name == cookie.Name && c.MaxAge < 0
	}
	if !deleted {
		t.Error("the tampered cookie was not deleted")
	}
	if !strings.Contains(logs.String(), "could not be opened") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("no security event in the log:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), cookie.Value[:20]) {
		t.Error("the log quotes the cookie")
	}
}

// TestLongReturnPathSurvivesSignIn: the longest return path rp keeps, made
// of the characters a dashboard's query is full of, fits the sign-in
// cookie and is where the user lands.
func TestLongReturnPathSurvivesSignIn(t *testing.T) {
	h := newHarness(t)
	path := "/dash?" + strings.Repeat("a=<1>&", 340)
	path = path[:2000]
	login := h.get("/login?return_to=" + url.QueryEscape(path))
	for _, c := range login.Cookies() {
		if n := len(c.Name) + len(c.Value); n > 4096 {
			t.Fatalf("the sign-in cookie is %d bytes: browsers drop it", n)
		}
	}
	r := h.get(h.expectRedirect(h.get(h.expectRedirect(login, http.StatusSeeOther)), http.StatusFound))
	got := h.expectRedirect(r, http.StatusSeeOther)
	if want := mustURL(t, h.base+path).RequestURI(); got != want {
		t.Fatalf("landed on %.80q…, want %.80q…", got, want)
	}
}
