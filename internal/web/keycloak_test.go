package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/testprovider"
)

// TestKeycloakShapedRoundTrip runs sign-in and logout against a provider
// laid out like Keycloak in docker compose: browsers reach it as localhost,
// rp by another address (RP_DISCOVERY_URL), which rp uses for every call
// of its own, the refresh token's revocation at logout included; and its
// logout needs a valid id_token_hint to redirect back without a
// confirmation page.
func TestKeycloakShapedRoundTrip(t *testing.T) {
	op := testprovider.New(t, testprovider.Keycloak("demo"))
	if op.Issuer == op.DiscoveryURL || !strings.HasSuffix(op.Issuer, "/realms/demo") {
		t.Fatalf("test provider not shaped like Keycloak: %s vs %s", op.Issuer, op.DiscoveryURL)
	}
	h := newHarnessFor(t, op, withEnv("RP_DISCOVERY_URL", op.DiscoveryURL))
	h.op.Set(func(k *testprovider.Knobs) {
		k.RedirectURIs = []string{h.base + "/callback"}
		k.PostLogoutRedirectURIs = []string{h.base + "/logged-out"}
	})

	authURL := h.expectRedirect(h.get("/login"), http.StatusSeeOther)
	if !strings.HasPrefix(authURL, op.Issuer+"/protocol/openid-connect/auth?") {
		t.Fatalf("browser sent to %q, want the browser-facing issuer's auth endpoint", authURL)
	}
	h.expectRedirect(h.get(h.expectRedirect(h.get(authURL), http.StatusFound)), http.StatusSeeOther)
	if !h.signedIn(h.client) {
		t.Fatal("not signed in")
	}
	if h.op.Count("token") != 1 {
		t.Fatalf("token endpoint calls: %d", h.op.Count("token"))
	}

	end := h.expectRedirect(h.post("/logout", url.Values{"csrf_token": {h.csrf()}}, map[string]string{"Origin": h.base}), http.StatusSeeOther)
	if !strings.HasPrefix(end, op.Issuer+"/protocol/openid-connect/logout?") {
		t.Fatalf("logout sent to %q", end)
	}
	// The refresh token is revoked at the address rp reaches Keycloak by,
	// although discovery names the revocation endpoint at the browsers'
	// (in compose, localhost:8080 inside rp's container is rp itself).
	if n := op.Count("front:revoke"); n != 0 {
		t.Errorf("rp called the revocation endpoint %d times at the browser-facing address", n)
	}
	if len(op.Revoked()) != 1 {
		t.Errorf("the refresh token was not revoked at logout: revoked %d tokens", len(op.Revoked()))
	}
	// With a valid id_token_hint Keycloak redirects straight back: no
	// "Do you want to log out?" page, no "Missing parameters".
	back := h.expectRedirect(h.get(end), http.StatusFound)
	if !strings.HasPrefix(back, h.base+"/logged-out?state=") {
		t.Fatalf("provider answered %q", back)
	}
	if page := h.get(back); !strings.Contains(page.body, "signed out here and at your organisation's sign-in service") {
		t.Fatalf("/logged-out: %.400s", page.body)
	}
}
