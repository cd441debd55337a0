package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/testprovider"
)

// TestSignInWhenOfflineAccessIsRefused: Keycloak refuses, at the token
// endpoint, the code of an authorization that asked for offline_access when
// the user lacks the offline_access role (users a realm file imports
// without realmRoles have no role at all, the demo realm's included). rp
// asks for offline_access by default, so such users could never sign in:
// rp starts the sign-in again at once without it, which Keycloak's
// session (the password was right) lets through, and says so in its log.
// (RP_OFFLINE_ACCESS is off by default since Keycloak was tested; these
// tests turn it on.)
func TestSignInWhenOfflineAccessIsRefused(t *testing.T) {
	t.Parallel()
	op := testprovider.New(t, testprovider.Keycloak("demo"))
	op.Set(func(k *testprovider.Knobs) { k.RefuseOffline = true })
	var logs syncBuffer
	h := newHarnessFor(t, op, withEnv("RP_DISCOVERY_URL", op.DiscoveryURL), withEnv("RP_OFFLINE_ACCESS", "true"), withLogs(&logs))

	r := h.get(h.startLogin("/profile"))
	again := h.expectRedirect(r, http.StatusSeeOther)
	if !strings.HasPrefix(again, op.Issuer+"/protocol/openid-connect/auth?") {
		t.Fatalf("refused callback answered %d → %q, want a new authorization request; body %.300s", r.StatusCode, again, r.body)
	}
	q := mustURL(t, again).Query()
	if got := strings.Fields(q.Get("scope")); slices.Contains(got, "offline_access") || !slices.Contains(got, "openid") || q.Get("prompt") != "" {
		t.Fatalf("second authorization: scope %q, prompt %q; want the configured scopes without offline_access, and no prompt", q.Get("scope"), q.Get("prompt"))
	}
	back := h.expectRedirect(h.get(h.expectRedirect(h.get(again), http.StatusFound)), http.StatusSeeOther)
	if back != "/profile" {
		t.Fatalf("signed in, then sent to %q, want /profile", back)
	}
	if !h.signedIn(h.client) {
		t.Fatal("not signed in after the second authorization")
	}
	if s := op.Scopes(); len(s) != 2 || !strings.Contains(s[0], "offline_access") || strings.Contains(s[1], "offline_access") {
		t.Fatalf("authorization requests' scopes: %q", s)
	}
	if !strings.Contains(logs.String(), "offline_access") || !strings.Contains(logs.String(), "RP_OFFLINE_ACCESS=false") {
		t.Errorf("the log does not say what happened and what to change:\n%s", logs.String())
	}

	// Later sign-ins ask for offline_access again: it is this user (a
	// role), not the provider, that has none.
	h2 := newHarnessFor(t, op, withEnv("RP_DISCOVERY_URL", op.DiscoveryURL), withEnv("RP_OFFLINE_ACCESS", "true"))
	op.Set(func(k *testprovider.Knobs) { k.RefuseOffline = false })
	h2.login()
	if s := op.Scopes(); len(s) != 3 || !strings.Contains(s[2], "offline_access") {
		t.Fatalf("a later sign-in's scopes: %q", s)
	}
}

// TestOfflineRefusedTwiceIsNotALoop: when the sign-in without
// offline_access is refused too, rp shows its error page; it never asks
// the provider a third time.
func TestOfflineRefusedTwiceIsNotALoop(t *testing.T) {
	t.Parallel()
	op := testprovider.New(t, testprovider.Keycloak("demo"))
	op.Set(func(k *testprovider.Knobs) { k.TokenError = "not_allowed" })
	h := newHarnessFor(t, op, withEnv("RP_DISCOVERY_URL", op.DiscoveryURL), withEnv("RP_OFFLINE_ACCESS", "true"))
	again := h.expectRedirect(h.get(h.startLogin("")), http.StatusSeeOther)
	r := h.get(h.expectRedirect(h.get(again), http.StatusFound))
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "Sign-in failed") {
		t.Fatalf("second refusal: %d %.400s", r.StatusCode, r.body)
	}
	if n := len(op.Scopes()); n != 2 {
		t.Fatalf("%d authorization requests, want 2", n)
	}
}

// TestOfflineAccessAskedInRPScopesIsKept: offline_access an admin put in
// RP_SCOPES is theirs: a refusal is shown, not worked around.
func TestOfflineAccessAskedInRPScopesIsKept(t *testing.T) {
	t.Parallel()
	op := testprovider.New(t)
	op.Set(func(k *testprovider.Knobs) { k.RefuseOffline = true })
	h := newHarnessFor(t, op, withEnv("RP_SCOPES", "openid profile email offline_access"))
	if r := h.get(h.startLogin("")); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("callback: %d %.300s", r.StatusCode, r.body)
	}
	if n := len(op.Scopes()); n != 1 {
		t.Fatalf("%d authorization requests, want 1", n)
	}
}
