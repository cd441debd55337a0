package web_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/testprovider"
)

// loginAs signs the harness's browser in as sub with the provider session
// sid, and returns that browser.
func (h *harness) loginAs(sub, sid string) *http.Client {
	h.t.Helper()
	h.op.Set(func(k *testprovider.Knobs) { k.Subject, k.SID = sub, sid })
	h.client = newBrowser(h.t)
	h.login()
	return h.client
}

// backchannel posts form to /backchannel-logout as a provider would: no
// cookie, no Origin.
func (h *harness) backchannel(form url.Values) resp {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.base+"/backchannel-logout", strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(&http.Client{Timeout: 10 * time.Second}, req)
}

func (h *harness) sendLogoutToken(token string) resp {
	h.t.Helper()
	return h.backchannel(url.Values{"logout_token": {token}})
}

// wantLogoutOK checks the exact success answer: 200, not 204.
func wantLogoutOK(t *testing.T, r resp) {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want exactly 200; body %s", r.StatusCode, r.body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
}

// wantLogoutError checks a refusal: the status, no-store, and an OAuth
// error body with error=code that quotes nothing of the token.
func wantLogoutError(t *testing.T, r resp, status int, code, token string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", r.StatusCode, status, r.body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body["error"] != code || body["error_description"] == "" {
		t.Fatalf("body %q, want {\"error\":%q,\"error_description\":...}", r.body, code)
	}
	if len(body) != 2 {
		t.Errorf("body has more than error and error_description: %q", r.body)
	}
	if token != "" {
		for _, part := range strings.Split(token, ".") {
			if len(part) > 8 && strings.Contains(r.body, part) {
				t.Fatalf("the error body quotes the token: %s", r.body)
			}
		}
	}
}

func TestBackchannelLogoutEndsTheSession(t *testing.T) {
	h := newHarness(t)
	phone := h.loginAs("alice", "sid-phone")
	laptop := h.loginAs("alice", "sid-laptop")

	wantLogoutOK(t, h.sendLogoutToken(h.op.LogoutToken(h.op.LogoutClaims("alice", "sid-phone"), testprovider.TokenHeader{})))
	if h.signedIn(phone) {
		t.Fatal("the session named by sid is still signed in")
	}
	if !h.signedIn(laptop) {
		t.Fatal("another session of the same user was ended")
	}
	// The ended session's cookie now leads into sign-in.
	r := h.getWith(phone, "/profile")
	if loc := h.expectRedirect(r, http.StatusSeeOther); !strings.HasPrefix(loc, "/login") {
		t.Fatalf("Location %q", loc)
	}
}

func TestBackchannelLogoutAsKeycloakSendsIt(t *testing.T) {
	for _, tc := range []struct{ name, typ string }{
		{"Keycloak 26 (typ logout+jwt)", "logout+jwt"},
		{"Keycloak before 25 (typ JWT)", "JWT"},
		{"typ application/logout+jwt", "application/logout+jwt"},
		{"typ in upper case", "Logout+JWT"},
		{"no typ", "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessFor(t, testprovider.New(t, testprovider.Keycloak("demo")))
			c := h.loginAs("f3a8c9e0-1b2c-4d5e-8f90-a1b2c3d4e5f6", "a7c1e2f0-0000-4000-8000-000000000001")
			tok := h.op.LogoutToken(h.op.KeycloakLogoutClaims("f3a8c9e0-1b2c-4d5e-8f90-a1b2c3d4e5f6", "a7c1e2f0-0000-4000-8000-000000000001"),
				testprovider.TokenHeader{Typ: tc.typ})
			wantLogoutOK(t, h.sendLogoutToken(tok))
			if h.signedIn(c) {
				t.Fatal("still signed in")
			}
		})
	}
}

func TestBackchannelLogoutWithoutExpIsAccepted(t *testing.T) {
	h := newHarness(t)
	c := h.loginAs("alice", "sid-1")
	claims := h.op.LogoutClaims("alice", "sid-1")
	delete(claims, "exp")
	wantLogoutOK(t, h.sendLogoutToken(h.op.LogoutToken(claims, testprovider.TokenHeader{})))
	if h.signedIn(c) {
		t.Fatal("still signed in")
	}
}

func TestBackchannelLogoutBySubEndsAllOfTheUsersSessions(t *testing.T) {
	h := newHarness(t)
	a1 := h.loginAs("alice", "sid-1")
	a2 := h.loginAs("alice", "sid-2")
	b := h.loginAs("bob", "sid-3")
	wantLogoutOK(t, h.sendLogoutToken(h.op.LogoutToken(h.op.LogoutClaims("alice", ""), testprovider.TokenHeader{})))
	if h.signedIn(a1) || h.signedIn(a2) {
		t.Fatal("a session of the user is still signed in")
	}
	if !h.signedIn(b) {
		t.Fatal("another user's session was ended")
	}
}

func TestBackchannelLogoutBySidAndSubNeedsBoth(t *testing.T) {
	h := newHarness(t)
	a := h.loginAs("alice", "sid-1")
	wantLogoutOK(t, h.sendLogoutToken(h.op.LogoutToken(h.op.LogoutClaims("bob", "sid-1"), testprovider.TokenHeader{})))
	if !h.signedIn(a) {
		t.Fatal("a token naming alice's sid with bob's sub ended alice's session")
	}
	wantLogoutOK(t, h.sendLogoutToken(h.op.LogoutToken(h.op.LogoutClaims("alice", "sid-1"), testprovider.TokenHeader{})))
	if h.signedIn(a) {
		t.Fatal("still signed in")
	}
}

func TestBackchannelLogoutForAnUnknownSidChangesNothing(t *testing.T) {
	h := newHarness(t)
	a := h.loginAs("alice", "sid-1")
	wantLogoutOK(t, h.sendLogoutToken(h.op.LogoutToken(h.op.LogoutClaims("", "sid-nobody-has"), testprovider.TokenHeader{})))
	if !h.signedIn(a) {
		t.Fatal("an unknown sid ended a session")
	}
}

func TestBackchannelLogoutRefusesMalformedTokens(t *testing.T) {
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	type mutate func(c map[string]any)
	set := func(k string, v any) mutate { return func(c map[string]any) { c[k] = v } }
	del := func(k string) mutate { return func(c map[string]any) { delete(c, k) } }
	cases := []struct {
		name   string
		claims mutate
		header testprovider.TokenHeader
		raw    func(valid string) string // replaces the token entirely
	}{
		{name: "alg none", header: testprovider.TokenHeader{None: true}},
		{name: "HS256 with the client secret as key", header: testprovider.TokenHeader{HMAC: []byte("s3cret with spaces & symbols, 32 or more")}},
		{name: "an algorithm not registered (RS384)", header: testprovider.TokenHeader{Alg: "RS384"}},
		{name: "a key the provider does not have", header: testprovider.TokenHeader{Key: forger, KID: "made-up-kid"}},
		{name: "a forged signature under the provider's kid", header: testprovider.TokenHeader{Key: forger}},
		{name: "typ at+jwt", header: testprovider.TokenHeader{Typ: "at+jwt"}},
		{name: "typ JOSE", header: testprovider.TokenHeader{Typ: "JOSE"}},
		{name: "wrong iss", claims: set("iss", "https://evil.example")},
		{name: "no iss", claims: del("iss")},
		{name: "wrong aud", claims: set("aud", "another-client")},
		{name: "no aud", claims: del("aud")},
		{name: "an untrusted extra audience", claims: set("aud", []string{"rp-test", "another-client"})},
		{name: "several audiences without azp", claims: set("aud", []string{"rp-test", "rp-test"})},
		{name: "azp of another client", claims: set("azp", "another-client")},
		{name: "no events", claims: del("events")},
		{name: "events without the logout event", claims: set("events", map[string]any{"http://schemas.openid.net/event/other": map[string]any{}})},
		{name: "events an array", claims: set("events", []string{testprovider.BackchannelEvent})},
		{name: "events a string", claims: set("events", testprovider.BackchannelEvent)},
		{name: "the logout event not an object", claims: set("events", map[string]any{testprovider.BackchannelEvent: true})},
		{name: "the logout event null", claims: set("events", map[string]any{testprovider.BackchannelEvent: nil})},
		{name: "nonce present", claims: set("nonce", "n-0S6_WzA2Mj")},
		{name: "nonce null", claims: set("nonce", nil)},
		{name: "neither sid nor sub", claims: func(c map[string]any) { delete(c, "sid"); delete(c, "sub") }},
		{name: "empty sid and sub", claims: func(c map[string]any) { c["sid"], c["sub"] = "", "" }},
		{name: "sub not a string", claims: set("sub", 42)},
		{name: "expired", claims: set("exp", time.Now().Add(-10*time.Minute).Unix())},
		{name: "no iat", claims: del("iat")},
		{name: "iat not a number", claims: set("iat", "yesterday")},
		{name: "iat too long ago", claims: func(c map[string]any) {
			c["iat"], c["exp"] = time.Now().Add(-30*time.Minute).Unix(), time.Now().Add(time.Hour).Unix()
		}},
		{name: "iat in the future", claims: set("iat", time.Now().Add(time.Hour).Unix())},
		{name: "no jti", claims: del("jti")},
		{name: "empty jti", claims: set("jti", "")},
		{name: "an ID token instead", claims: func(c map[string]any) {
			delete(c, "events")
			c["nonce"], c["auth_time"] = "abc", time.Now().Unix()
		}},
		{name: "JWS JSON serialization", raw: func(valid string) string {
			p := strings.Split(valid, ".")
			return fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, p[0], p[1], p[2])
		}},
		{name: "payload altered after signing", raw: func(valid string) string {
			p := strings.Split(valid, ".")
			b, _ := base64.RawURLEncoding.DecodeString(p[1])
			b = []byte(strings.Replace(string(b), `"sid":"sid-1"`, `"sid":"sid-2"`, 1))
			return p[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + p[2]
		}},
		{name: "not a JWT", raw: func(string) string { return "not-a-token" }},
		{name: "two dots and nothing", raw: func(string) string { return ".." }},
	}
	h := newHarness(t)
	victim := h.loginAs("alice", "sid-1")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			claims := maps.Clone(h.op.LogoutClaims("alice", "sid-1"))
			if tc.claims != nil {
				tc.claims(claims)
			}
			tok := h.op.LogoutToken(claims, tc.header)
			if tc.raw != nil {
				tok = tc.raw(tok)
			}
			wantLogoutError(t, h.sendLogoutToken(tok), http.StatusBadRequest, "invalid_request", tok)
			if !h.signedIn(victim) {
				t.Fatal("a refused token ended the session")
			}
		})
	}
}

func TestBackchannelLogoutRefusesBadRequests(t *testing.T) {
	h := newHarness(t)
	victim := h.loginAs("alice", "sid-1")
	valid := func() string {
		return h.op.LogoutToken(h.op.LogoutClaims("alice", "sid-1"), testprovider.TokenHeader{})
	}

	// GET (and other methods): 405.
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, h.base+"/backchannel-logout?logout_token="+valid(), nil)
		r := h.do(&http.Client{}, req)
		if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != http.MethodPost {
			t.Errorf("%s: status %d, Allow %q; want 405 with Allow: POST", method, r.StatusCode, r.Header.Get("Allow"))
		}
	}
	// An empty POST, a token only in the query, two tokens, JSON, oversize.
	wantLogoutError(t, h.backchannel(url.Values{}), http.StatusBadRequest, "invalid_request", "")
	req, _ := http.NewRequest(http.MethodPost, h.base+"/backchannel-logout?logout_token="+valid(), nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantLogoutError(t, h.do(&http.Client{}, req), http.StatusBadRequest, "invalid_request", "")
	wantLogoutError(t, h.backchannel(url.Values{"logout_token": {valid(), valid()}}), http.StatusBadRequest, "invalid_request", "")
	req, _ = http.NewRequest(http.MethodPost, h.base+"/backchannel-logout", strings.NewReader(`{"logout_token":"`+valid()+`"}`))
	req.Header.Set("Content-Type", "application/json")
	wantLogoutError(t, h.do(&http.Client{}, req), http.StatusBadRequest, "invalid_request", "")
	wantLogoutError(t, h.backchannel(url.Values{"logout_token": {valid()}, "pad": {strings.Repeat("x", 70<<10)}}), http.StatusBadRequest, "invalid_request", "")
	if !h.signedIn(victim) {
		t.Fatal("a refused request ended the session")
	}
	// Unknown form parameters are ignored.
	wantLogoutOK(t, h.backchannel(url.Values{"logout_token": {valid()}, "extra": {"x"}}))
	if h.signedIn(victim) {
		t.Fatal("still signed in")
	}
}

func TestBackchannelLogoutRefusesAReplayedJTI(t *testing.T) {
	store := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	op := testprovider.New(t)
	h := newHarnessFor(t, op, withEnv("RP_SESSION_STORE", store))
	other := newHarnessFor(t, op, withEnv("RP_SESSION_STORE", store)) // a second instance on the same store

	h.loginAs("alice", "sid-1")
	tok := h.op.LogoutToken(h.op.LogoutClaims("alice", "sid-1"), testprovider.TokenHeader{})
	wantLogoutOK(t, h.sendLogoutToken(tok))

	// The same token again: an attacker replaying it after alice signed in
	// again must not sign her out.
	again := h.loginAs("alice", "sid-1")
	wantLogoutError(t, h.sendLogoutToken(tok), http.StatusBadRequest, "invalid_request", tok)
	wantLogoutError(t, other.sendLogoutToken(tok), http.StatusBadRequest, "invalid_request", tok)
	if !h.signedIn(again) {
		t.Fatal("a replayed token ended a session")
	}
}

// TestBackchannelLogoutUnknownKidFloodIsThrottled: logout tokens naming
// made-up kids make at most 3 JWKS fetches (logout tokens' allowance);
// each is refused (400) once a fetch has shown its kid absent, and once
// the allowance is spent the answer is 503 with Retry-After, since such a
// token could be genuine.
func TestBackchannelLogoutUnknownKidFloodIsThrottled(t *testing.T) {
	h := newHarness(t, withClock(newTestClock()))
	victim := h.loginAs("alice", "sid-1") // keys cached
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	before := h.op.Count("jwks")
	const attempts = 25
	for i := range attempts {
		tok := h.op.LogoutToken(h.op.LogoutClaims("alice", "sid-1"), testprovider.TokenHeader{Key: forger, KID: fmt.Sprintf("kid-%d", i)})
		r := h.sendLogoutToken(tok)
		if i < 3 {
			wantLogoutError(t, r, http.StatusBadRequest, "invalid_request", tok)
			continue
		}
		wantLogoutError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable", tok)
		if got := retryAfter(t, r); got != 10*time.Second {
			t.Fatalf("Retry-After %s, want 10s: the allowance gives one fetch per 10 s", got)
		}
	}
	if fetched := h.op.Count("jwks") - before; fetched != 3 {
		t.Fatalf("%d logout tokens with made-up kids caused %d JWKS fetches, want 3", attempts, fetched)
	}
	if !h.signedIn(victim) {
		t.Fatal("a forged token ended the session")
	}
}

func TestBackchannelLogoutWhenTheStoreIsDown(t *testing.T) {
	h := newHarness(t, withEnv("RP_SESSION_STORE", "sqlite:"+filepath.Join(t.TempDir(), "s.db")))
	h.loginAs("alice", "sid-1")
	if err := h.app.Sessions.Close(); err != nil {
		t.Fatal(err)
	}
	tok := h.op.LogoutToken(h.op.LogoutClaims("alice", "sid-1"), testprovider.TokenHeader{})
	wantLogoutError(t, h.sendLogoutToken(tok), http.StatusServiceUnavailable, "temporarily_unavailable", tok)
}

func TestBackchannelLogoutWhenTheKeysCannotBeFetched(t *testing.T) {
	h := newHarness(t)
	victim := h.loginAs("alice", "sid-1")
	h.op.Rotate(t, false) // the token names a kid rp has not seen
	h.op.Set(func(k *testprovider.Knobs) { k.JWKSDown = true })
	tok := h.op.LogoutToken(h.op.LogoutClaims("alice", "sid-1"), testprovider.TokenHeader{})
	r := h.sendLogoutToken(tok)
	wantLogoutError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable", tok)
	retryAfter(t, r)
	if !h.signedIn(victim) {
		t.Fatal("ended without a verified token")
	}
	// The provider retries once its keys are back: the jti was not spent,
	// and a failed fetch does not count as having looked for the kid.
	h.op.Set(func(k *testprovider.Knobs) { k.JWKSDown = false })
	wantLogoutOK(t, h.sendLogoutToken(tok))
	if h.signedIn(victim) {
		t.Fatal("the retried token did not end the session")
	}
}
