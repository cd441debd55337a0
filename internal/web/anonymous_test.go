package web_test

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/session/sessiontest"
)

// TestAnonymousTrafficWritesNothing: a visitor who has not signed in
// cannot grow the shared store, whatever it asks for. An attacker once
// filled a size-capped Redis with /login alone (each saved a ten-minute
// session holding the pending sign-in), and then sign-in and genuine
// back-channel logouts got 503 on every instance.
func TestAnonymousTrafficWritesNothing(t *testing.T) {
	for _, st := range sessiontest.All(t) {
		t.Run(st.Name, func(t *testing.T) {
			spec := st.New(t)
			h := newHarness(t, withEnv("RP_SESSION_STORE", spec))
			alice := h.loginAs("alice", "sid-alice")
			count := func() int64 {
				if st.Name == "memory" {
					return 0 // not readable from outside; the write counter below covers it
				}
				return sessiontest.Entries(t, spec)
			}
			entries, writes := count(), h.app.Sessions.Stats().Writes
			check := func(what string) {
				t.Helper()
				if w := h.app.Sessions.Stats().Writes - writes; w != 0 {
					t.Fatalf("%s: %d store writes", what, w)
				}
				if after := count(); after != entries {
					t.Fatalf("%s: the store held %d entries before and %d after", what, entries, after)
				}
			}

			longPath := "/" + strings.Repeat("p", 2000)
			anonymous := func() *http.Client { return newBrowser(t) }
			for range 200 {
				r := h.getWith(anonymous(), "/login?return_to="+url.QueryEscape(longPath))
				if r.StatusCode != http.StatusSeeOther {
					t.Fatalf("/login: %d", r.StatusCode)
				}
			}
			check("200 anonymous /login")
			// Forged callbacks: unknown states, and a genuine sign-in
			// cookie with a forged code or an error, replayed too.
			for range 50 {
				r := h.getWith(anonymous(), "/callback?state="+rand.Text()+"&code=forged")
				if r.StatusCode != http.StatusBadRequest {
					t.Fatalf("a forged callback: %d", r.StatusCode)
				}
			}
			for i := range 20 {
				b := anonymous()
				authURL := h.expectRedirect(h.getWith(b, "/login"), http.StatusSeeOther)
				state := mustURL(t, authURL).Query().Get("state")
				cookie := h.cookieNamed(b, "rp_session_signin_"+state)
				if cookie == nil {
					t.Fatal("no sign-in cookie")
				}
				q := "&code=forged-" + rand.Text()
				if i%2 == 1 {
					q = "&error=access_denied"
				}
				for range 2 { // the second time, replayed with the cookie
					c := h.clientWithCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
					if r := h.getWith(c, "/callback?state="+state+q); r.StatusCode < 400 {
						t.Fatalf("a callback with a forged code signed in: %d", r.StatusCode)
					}
				}
			}
			// Everything else a stranger can reach.
			for _, target := range []string{"/", "/profile", "/sessions", "/logout", "/logged-out", "/auth",
				"/frontchannel-logout?iss=" + url.QueryEscape(h.op.Issuer) + "&sid=" + rand.Text()} {
				h.getWith(anonymous(), target)
			}
			h.backchannel(url.Values{"logout_token": {"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}})
			h.do(anonymous(), sameSiteForm(t, h.base, "/logout", "csrf_token=x"))
			h.do(anonymous(), sameSiteForm(t, h.base, "/sessions/end", "csrf_token=x&all=1"))

			check("forged callbacks and every other route")
			if !h.signedIn(alice) {
				t.Error("a signed-in user lost her session")
			}
		})
	}
}

// sameSiteForm is a form POST from rp's own origin, base.
func sameSiteForm(t *testing.T, base, path, form string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", base+path, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	return req
}
