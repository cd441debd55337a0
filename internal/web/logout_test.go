package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/testprovider"
)

func TestLogoutEndsSessionHereAndAtProvider(t *testing.T) {
	h := newHarness(t)
	h.login()
	before := h.cookie(h.client)

	// GET /logout only asks.
	page := h.get("/logout")
	if page.StatusCode != http.StatusOK || !strings.Contains(page.body, `<form method="post" action="/logout">`) {
		t.Fatalf("GET /logout: %d %.400s", page.StatusCode, page.body)
	}
	if !h.signedIn(h.client) {
		t.Fatal("GET /logout logged out by itself")
	}

	token := h.csrf()
	r := h.post("/logout", url.Values{"csrf_token": {token}}, map[string]string{"Origin": h.base})
	end := h.expectRedirect(r, http.StatusSeeOther)
	u, _ := url.Parse(end)
	if !strings.HasPrefix(end, h.op.Issuer+"/end-session?") {
		t.Fatalf("logout redirects to %q", end)
	}
	q := u.Query()
	if q.Get("id_token_hint") == "" || q.Get("client_id") != h.op.ClientID ||
		q.Get("post_logout_redirect_uri") != h.base+"/logged-out" || len(q.Get("state")) < 22 ||
		q.Get("tenant") != "t1" {
		t.Fatalf("end-session query = %v", q)
	}

	// The session is gone from the store: a copy of the old cookie is
	// worth nothing.
	if h.signedIn(h.clientWithCookie(before)) {
		t.Fatal("the copied session cookie still works after logout")
	}

	back := h.expectRedirect(h.get(end), http.StatusFound)
	if !strings.HasPrefix(back, h.base+"/logged-out?state=") {
		t.Fatalf("provider sends back to %q", back)
	}
	done := h.get(back)
	if done.StatusCode != http.StatusOK || !strings.Contains(done.body, "You are signed out here and at your organisation's sign-in service.") {
		t.Fatalf("/logged-out: %d %.600s", done.StatusCode, done.body)
	}
	if h.signedIn(h.client) {
		t.Fatal("still signed in after logout")
	}
	// Reloading the page neither loops nor claims anything new.
	again := h.get(back)
	if again.StatusCode != http.StatusOK || !strings.Contains(again.body, "You have no session here.") {
		t.Fatalf("/logged-out reloaded: %d %.400s", again.StatusCode, again.body)
	}
}

func TestLogoutRefusesForgery(t *testing.T) {
	cases := []struct {
		name   string
		form   func(token string) url.Values
		header map[string]string
	}{
		{"no CSRF token", func(string) url.Values { return url.Values{} }, nil},
		{"wrong CSRF token", func(string) url.Values { return url.Values{"csrf_token": {"guess"}} }, nil},
		{"foreign Origin", func(tok string) url.Values { return url.Values{"csrf_token": {tok}} },
			map[string]string{"Origin": "https://evil.example"}},
		{"null Origin", func(tok string) url.Values { return url.Values{"csrf_token": {tok}} },
			map[string]string{"Origin": "null"}},
		{"cross-site fetch without Origin", func(tok string) url.Values { return url.Values{"csrf_token": {tok}} },
			map[string]string{"Sec-Fetch-Site": "cross-site"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.login()
			r := h.post("/logout", tc.form(h.csrf()), tc.header)
			if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "Logout refused") {
				t.Fatalf("status %d, want a 403 page", r.StatusCode)
			}
			if !h.signedIn(h.client) {
				t.Fatal("a refused logout ended the session")
			}
			if n := len(h.op.Logouts()); n != 0 {
				t.Fatalf("provider saw %d logouts", n)
			}
		})
	}
}

func TestLogoutWithoutSessionLandsOnLoggedOut(t *testing.T) {
	h := newHarness(t)
	r := h.post("/logout", url.Values{}, map[string]string{"Origin": h.base})
	if got := h.expectRedirect(r, http.StatusSeeOther); got != "/logged-out" {
		t.Fatalf("redirect to %q", got)
	}
}

func TestLogoutWithoutEndSessionEndpointIsLocal(t *testing.T) {
	op := testprovider.New(t)
	op.Set(func(k *testprovider.Knobs) { k.NoEndSession = true })
	h := newHarnessFor(t, op)
	h.login()
	r := h.post("/logout", url.Values{"csrf_token": {h.csrf()}}, map[string]string{"Origin": h.base})
	if got := h.expectRedirect(r, http.StatusSeeOther); got != "/logged-out" {
		t.Fatalf("redirect to %q", got)
	}
	page := h.get("/logged-out")
	if !strings.Contains(page.body, "Your session at your organisation's sign-in service may still be open") {
		t.Fatalf("page does not warn: %.600s", page.body)
	}
	if h.signedIn(h.client) {
		t.Fatal("still signed in")
	}
}

func TestLoggedOutWithWrongStateSaysUnconfirmed(t *testing.T) {
	h := newHarness(t)
	h.login()
	h.expectRedirect(h.post("/logout", url.Values{"csrf_token": {h.csrf()}}, map[string]string{"Origin": h.base}), http.StatusSeeOther)
	page := h.get("/logged-out?state=forged")
	if !strings.Contains(page.body, "could not confirm") {
		t.Fatalf("page: %.600s", page.body)
	}
}

func TestLoggedOutNeverEndsASession(t *testing.T) {
	h := newHarness(t)
	h.login()
	page := h.get("/logged-out?state=x")
	if !strings.Contains(page.body, "You are still signed in") || !h.signedIn(h.client) {
		t.Fatalf("GET /logged-out changed the session: %.400s", page.body)
	}
}

// TestLogoutLeavesOtherSessionsAlone: one user's logout ends only that
// browser's session.
func TestLogoutLeavesOtherSessionsAlone(t *testing.T) {
	h := newHarness(t)
	h.login()
	other := *h
	other.client = newBrowser(t)
	other.login()

	h.expectRedirect(h.post("/logout", url.Values{"csrf_token": {h.csrf()}}, map[string]string{"Origin": h.base}), http.StatusSeeOther)
	if !other.signedIn(other.client) {
		t.Fatal("another browser's session ended")
	}
}

// TestLogoutFromOwnPageUnderNoReferrer: pages sent with
// Referrer-Policy: no-referrer make browsers post "Origin: null" even to
// their own origin; Sec-Fetch-Site then tells.
func TestLogoutFromOwnPageUnderNoReferrer(t *testing.T) {
	h := newHarness(t)
	h.login()
	r := h.post("/logout", url.Values{"csrf_token": {h.csrf()}}, map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"})
	h.expectRedirect(r, http.StatusSeeOther)
	if h.signedIn(h.client) {
		t.Fatal("still signed in")
	}
}
