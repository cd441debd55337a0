package devop_test

import (
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/app/apptest"
	"github.com/rp-project/rp/internal/devop"
)

// TestRoundTripWithRP runs rp in-process against the development provider,
// as cmd/rp-dev does (both on localhost, one cookie jar), and clicks through
// sign-in, the profile, and logout at rp and at the provider.
func TestRoundTripWithRP(t *testing.T) {
	ln, rpBase := apptest.Listen(t, "localhost")
	op := startProvider(t, devop.Options{
		Issuer:                 "http://localhost:0",
		ClientID:               "rp-dev",
		ClientSecret:           "rp-dev-secret",
		RedirectURIs:           []string{rpBase + "/callback"},
		PostLogoutRedirectURIs: []string{rpBase + "/logged-out"},
	})
	apptest.Serve(t, ln, map[string]string{
		"RP_ISSUER":        op.Issuer,
		"RP_CLIENT_ID":     "rp-dev",
		"RP_CLIENT_SECRET": "rp-dev-secret",
		"RP_BASE_URL":      rpBase,
		"RP_SESSION_STORE": "memory",
	}, nil)

	b := newBrowser(t)
	alice := devop.DemoUsers()[0]

	// Sign in: rp → provider's form → credentials → rp's callback → profile.
	authz := b.get(rpBase+"/login?return_to=/profile").redirect(t, op.Issuer+"/authorize?")
	if q := authz.Query(); q.Get("code_challenge_method") != "S256" || q.Get("client_id") != "rp-dev" {
		t.Errorf("authorization request %v", q)
	}
	loginURL := b.get(authz.String()).redirect(t, op.Issuer+"/login?")
	pg := b.get(loginURL.String()).ok(t)
	f := pg.findForm(t, "post", "/login")
	f.Hidden.Set("username", alice.Username)
	f.Hidden.Set("password", alice.Password)
	cb := b.post(pg.resolve(f.Action), op.Issuer, f.Hidden).redirect(t, op.Issuer+"/authorize/callback?")
	back := b.get(cb.String()).redirect(t, rpBase+"/callback?")
	next := b.get(back.String()).redirect(t, "")
	if next.Path != "/profile" {
		t.Errorf("after the callback rp sent the browser to %s, want /profile", next)
	}
	profile := b.get(rpBase + "/profile").ok(t)
	for _, want := range []string{alice.Name, alice.Subject, alice.Email} {
		if !strings.Contains(profile.Body, want) {
			t.Errorf("profile lacks %q\n%s", want, excerpt(profile.Body))
		}
	}

	// Log out: confirmation page → POST with the CSRF token → provider's
	// end_session_endpoint → back at rp's /logged-out with rp's state.
	confirm := b.get(rpBase + "/logout").ok(t)
	lf := confirm.findForm(t, "post", "/logout")
	if lf.Hidden.Get("csrf_token") == "" {
		t.Fatalf("logout form without csrf_token\n%s", excerpt(confirm.Body))
	}
	endSession := b.post(confirm.resolve(lf.Action), rpBase, lf.Hidden).redirect(t, op.Issuer+"/end_session?")
	eq := endSession.Query()
	if eq.Get("id_token_hint") == "" || eq.Get("post_logout_redirect_uri") != rpBase+"/logged-out" || eq.Get("state") == "" {
		t.Errorf("end_session request %v", eq)
	}
	loggedOut := b.get(endSession.String()).redirect(t, rpBase+"/logged-out?")
	if loggedOut.Query().Get("state") != eq.Get("state") {
		t.Errorf("provider returned state %q, rp sent %q", loggedOut.Query().Get("state"), eq.Get("state"))
	}
	done := b.get(loggedOut.String()).ok(t)
	if !strings.Contains(strings.ToLower(done.Body), "signed out") {
		t.Errorf("logged-out page does not say signed out\n%s", excerpt(done.Body))
	}

	// Both sessions are gone: the profile asks for sign-in again, and the
	// provider shows its form rather than signing in silently.
	again := b.get(rpBase+"/profile").redirect(t, "")
	for hops := 0; !strings.HasPrefix(again.String(), op.Issuer+"/login?"); hops++ {
		if hops > 3 {
			t.Fatalf("after logout, /profile led to %s, not to the provider's sign-in", again)
		}
		again = b.get(again.String()).redirect(t, "")
	}
	b.get(again.String()).ok(t).findForm(t, "post", "/login")
}
