package web_test

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/testprovider"
)

// TestCallbackRefusesBadIDTokens runs a sign-in for each way an ID token
// or authorization response can be wrong, and checks that rp refuses it
// with a 400 page, creates no session, and leaks no detail.
func TestCallbackRefusesBadIDTokens(t *testing.T) {
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(f func(c map[string]any)) func(k *testprovider.Knobs) {
		return func(k *testprovider.Knobs) { k.IDTokenClaims = f }
	}
	cases := []struct {
		name  string
		knobs func(k *testprovider.Knobs)
	}{
		{"wrong nonce", claims(func(c map[string]any) { c["nonce"] = "attacker-nonce" })},
		{"no nonce", claims(func(c map[string]any) { delete(c, "nonce") })},
		{"wrong audience", claims(func(c map[string]any) { c["aud"] = "another-client" })},
		{"wrong issuer claim", claims(func(c map[string]any) { c["iss"] = "https://evil.example" })},
		{"expired", claims(func(c map[string]any) { c["exp"] = time.Now().Add(-10 * time.Minute).Unix() })},
		{"no exp", claims(func(c map[string]any) { delete(c, "exp") })},
		{"no iat", claims(func(c map[string]any) { delete(c, "iat") })},
		{"iat in the future", claims(func(c map[string]any) { c["iat"] = time.Now().Add(10 * time.Minute).Unix() })},
		{"no sub", claims(func(c map[string]any) { delete(c, "sub") })},
		{"empty sub", claims(func(c map[string]any) { c["sub"] = "" })},
		{"azp of another client", claims(func(c map[string]any) { c["azp"] = "another-client" })},
		{"several audiences without azp", claims(func(c map[string]any) { c["aud"] = []string{"rp-test", "rp-test"} })},
		{"an untrusted additional audience", claims(func(c map[string]any) {
			c["aud"] = []string{"rp-test", "another-client"}
			c["azp"] = "rp-test"
		})},
		{"token_type other than Bearer", func(k *testprovider.Knobs) { k.TokenType = "mac" }},
		{"wrong at_hash", claims(func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" })},
		{"forged signature with the published kid", func(k *testprovider.Knobs) { k.SignWith = otherKey }},
		{"unknown kid", func(k *testprovider.Knobs) { k.SignWith = otherKey; k.SignKID = "made-up" }},
		{"algorithm not registered for the client", func(k *testprovider.Knobs) { k.SignAlg = "RS384" }},
		{"no id_token", func(k *testprovider.Knobs) { k.OmitIDToken = true }},
		{"iss parameter of another issuer", func(k *testprovider.Knobs) { k.IssParam = "https://evil.example" }},
		{"iss parameter missing though advertised", func(k *testprovider.Knobs) { k.IssParam = "-" }},
		{"code refused by the token endpoint", func(k *testprovider.Knobs) { k.TokenError = "invalid_grant" }},
		{"UserInfo sub of another user", func(k *testprovider.Knobs) {
			k.IDTokenClaims = func(c map[string]any) { delete(c, "email") }
			k.UserInfoSub = "mallory"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.op.Set(tc.knobs)
			r := h.get(h.startLogin("/profile"))
			if r.StatusCode != http.StatusBadRequest {
				t.Fatalf("callback: status %d, want 400", r.StatusCode)
			}
			if !strings.Contains(r.body, "Sign-in failed") || !strings.Contains(r.body, `href="/login"`) {
				t.Errorf("error page lacks its title or retry link: %.500s", r.body)
			}
			for _, leak := range []string{"oidc:", "eyJ", "at-", "nonce", "goroutine"} {
				if strings.Contains(r.body, leak) {
					t.Errorf("error page leaks %q", leak)
				}
			}
			if h.signedIn(h.client) {
				t.Fatal("a refused sign-in left a session")
			}
		})
	}
}

func TestNoUserInfoCallForAFailedIDToken(t *testing.T) {
	h := newHarness(t)
	h.op.Set(func(k *testprovider.Knobs) {
		k.IDTokenClaims = func(c map[string]any) { delete(c, "email"); c["nonce"] = "wrong" }
	})
	if r := h.get(h.startLogin("")); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d", r.StatusCode)
	}
	if n := h.op.Count("userinfo"); n != 0 {
		t.Fatalf("UserInfo called %d times for a refused ID token", n)
	}
}

func TestCallbackStateIsBoundAndSingleUse(t *testing.T) {
	h := newHarness(t)
	callback := h.startLogin("")

	// Another browser cannot complete this sign-in (login CSRF).
	other := newBrowser(t)
	if r := h.getWith(other, callback); r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "Sign-in expired") {
		t.Fatalf("foreign browser: status %d", r.StatusCode)
	}
	if h.signedIn(other) {
		t.Fatal("a browser that did not start the sign-in got a session")
	}

	// A tampered state is refused; the genuine one still works once.
	u, _ := url.Parse(callback)
	q := u.Query()
	good := q.Get("state")
	q.Set("state", good+"x")
	u.RawQuery = q.Encode()
	if r := h.get(u.String()); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("tampered state: status %d", r.StatusCode)
	}
	h.expectRedirect(h.get(callback), http.StatusSeeOther)
	if r := h.get(callback); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed callback: status %d, want 400", r.StatusCode)
	}

	// No state at all, and duplicated parameters.
	if r := h.get("/callback?code=x"); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("no state: status %d", r.StatusCode)
	}
	if r := h.get("/callback?code=x&state=a&state=b"); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("duplicate state: status %d", r.StatusCode)
	}
}

func TestProviderErrorIsShownEscaped(t *testing.T) {
	h := newHarness(t)
	callback := h.startLogin("")
	u, _ := url.Parse(callback)
	q := url.Values{"state": {u.Query().Get("state")}, "iss": {h.op.Issuer}, "error": {"access_denied"},
		"error_description": {`<script>alert("x")</script> The user said no`}}
	r := h.get("/callback?" + q.Encode())
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", r.StatusCode)
	}
	if strings.Contains(r.body, "<script>") {
		t.Fatal("the provider's text is not escaped")
	}
	if !strings.Contains(r.body, "&lt;script&gt;") || !strings.Contains(r.body, "The user said no") {
		t.Fatalf("the provider's text is not shown: %.600s", r.body)
	}
	// The pending sign-in was consumed: the code path cannot be resumed.
	if r := h.get(callback); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("callback after an error: status %d", r.StatusCode)
	}
}

// TestUnsolicitedProviderErrorIsNotShown: without a sign-in of this
// browser behind it, an error response is just an expired sign-in, so
// nobody can make rp's pages carry their text.
func TestUnsolicitedProviderErrorIsNotShown(t *testing.T) {
	h := newHarness(t)
	q := url.Values{"state": {"made-up"}, "error": {"access_denied"},
		"error_description": {"Call support at 555-0100 and give them your password"}}
	r := h.get("/callback?" + q.Encode())
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "Sign-in expired") || strings.Contains(r.body, "555-0100") {
		t.Fatalf("status %d: %.600s", r.StatusCode, r.body)
	}
	// An error with the right state but another issuer is refused too.
	u, _ := url.Parse(h.startLogin(""))
	q = url.Values{"state": {u.Query().Get("state")}, "iss": {"https://evil.example"}, "error": {"access_denied"},
		"error_description": {"Call support at 555-0100"}}
	r = h.get("/callback?" + q.Encode())
	if r.StatusCode != http.StatusBadRequest || strings.Contains(r.body, "555-0100") {
		t.Fatalf("foreign iss: status %d: %.600s", r.StatusCode, r.body)
	}
}

// TestRefusesIssuerMismatchInDiscovery: rp must not trust metadata naming
// another issuer; it stays not ready.
func TestRefusesIssuerMismatchInDiscovery(t *testing.T) {
	op := testprovider.New(t)
	op.Set(func(k *testprovider.Knobs) { k.DiscoveryIss = "https://evil.example" })
	h := newHarnessFor(t, op, withoutDiscovery())
	if err := h.app.OIDC.Discover(t.Context()); err == nil || !strings.Contains(err.Error(), "must be equal") {
		t.Fatalf("discovery error = %v", err)
	}
	if r := h.get("/readyz"); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz: %d", r.StatusCode)
	}
}

// TestRefusesOversizedProviderResponses: a provider cannot make rp read
// without bound.
func TestRefusesOversizedProviderResponses(t *testing.T) {
	op := testprovider.New(t)
	op.Set(func(k *testprovider.Knobs) { k.PadDiscovery = 2 << 20 })
	h := newHarnessFor(t, op, withoutDiscovery())
	if err := h.app.OIDC.Discover(t.Context()); err == nil || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Fatalf("discovery error = %v", err)
	}
}
