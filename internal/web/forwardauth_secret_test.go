package web_test

// /auth and the access token: rp hands it only to a sub-request that
// proves it is the proxy's own, by RP_FORWARD_AUTH_SECRET in
// X-RP-Forward-Auth-Secret. A browser's script that reaches /auth through
// a load balancer passing its X-Forwarded-* headers must not read it.

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/rp-project/rp/internal/testprovider"
)

// testFwdSecret is the test's RP_FORWARD_AUTH_SECRET.
const testFwdSecret = "Yk3v8QpZ+2mT9wLr/5sXc1NfHb7JdE0aGu4iO6eRq="

const secretHeader = "X-RP-Forward-Auth-Secret"

// withForwardAuthSecret sets RP_FORWARD_AUTH_SECRET; the harness's proxies
// (ask) then send it, as the snippets do.
func withForwardAuthSecret() option { return withEnv("RP_FORWARD_AUTH_SECRET", testFwdSecret) }

// signInForToken signs alice in with RP_PASS_ACCESS_TOKEN=true and
// returns her browser and the access token the provider gave rp (learnt
// from the UserInfo call, which rp makes with it).
func (h *harness) signInForToken() (*http.Client, string) {
	h.t.Helper()
	var mu sync.Mutex
	var seen string
	h.op.Set(func(k *testprovider.Knobs) {
		k.IDTokenClaims = func(c map[string]any) { delete(c, "email") }
		k.UserInfo = map[string]any{"email": "alice@example.com"}
		k.Seen = func(r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/userinfo") {
				mu.Lock()
				seen = r.Header.Get("Authorization")
				mu.Unlock()
			}
		}
	})
	alice := h.signInAs("alice", nil)
	mu.Lock()
	defer mu.Unlock()
	if !strings.HasPrefix(seen, "Bearer at-") {
		h.t.Fatalf("rp did not call UserInfo with the access token: %q", seen)
	}
	return alice, seen
}

// forgedThroughLB is what a script on the app's pages sends to /_rp/auth
// through a load balancer that rp trusts and that passes the browser's
// headers: a well-formed description of a request, with the browser's
// cookie.
func (h *harness) forgedThroughLB(b *http.Client) http.Header {
	hdr := h.trustedHeaders("/app", b)
	hdr.Set("Sec-Fetch-Mode", "cors")
	hdr.Set("Sec-Fetch-Dest", "empty")
	hdr.Set("Sec-Fetch-Site", "same-origin")
	return hdr
}

// TestAuthTokenNeedsTheForwardAuthSecret: without RP_FORWARD_AUTH_SECRET,
// /auth never sends the access token, however well-formed the request's
// X-Forwarded-* headers; rp says so at start.
func TestAuthTokenNeedsTheForwardAuthSecret(t *testing.T) {
	var logs syncBuffer
	h := newForwardAuth(t, withEnv("RP_PASS_ACCESS_TOKEN", "true"), withLogs(&logs))
	alice, _ := h.signInForToken()
	alice2 := identity{user: "alice", email: "alice@example.com", username: "alice"}

	// The attack: fetch("/_rp/auth") through a permissive load balancer.
	r := h.askRaw(fwdPrefix+"/auth", h.forgedThroughLB(alice))
	if got := r.Header.Get("Authorization"); got != "" {
		t.Errorf("a script's /auth call through a trusted load balancer read the access token (Authorization %q)", got)
	}
	wantAllowed(t, r, alice2)
	// The proxies too, as long as none can prove it is one.
	for _, p := range allProxies {
		wantAllowed(t, h.ask(p, navigation("/app", alice)), alice2)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "RP_FORWARD_AUTH_SECRET is unset") {
		t.Errorf("no start-up warning that RP_PASS_ACCESS_TOKEN=true needs RP_FORWARD_AUTH_SECRET for /auth:\n%s", logs.String())
	}
}

// TestAuthTokenForTheProxyWithTheSecret: with RP_FORWARD_AUTH_SECRET, each
// proxy that sends it gets the token; a request without it, or with
// another, gets none, and its X-Forwarded-* headers are not believed.
func TestAuthTokenForTheProxyWithTheSecret(t *testing.T) {
	var logs syncBuffer
	h := newForwardAuth(t, withEnv("RP_PASS_ACCESS_TOKEN", "true"), withForwardAuthSecret(),
		withEnv("RP_PATH_RULES", "/admin=admins"), withLogs(&logs))
	alice, bearer := h.signInForToken()
	withToken := identity{user: "alice", email: "alice@example.com", username: "alice", authorization: bearer}
	for _, p := range allProxies {
		b := navigation("/app", alice)
		b.header.Set("Authorization", "Bearer forged")
		wantAllowed(t, h.ask(p, b), withToken)
	}
	if strings.Contains(logs.String(), testFwdSecret) {
		t.Fatalf("the log holds the secret:\n%s", logs.String())
	}

	const wrong = "Wr0ngSecretWr0ngSecretWr0ngSecretXYZ12345="
	for name, set := range map[string]func(http.Header){
		"without the header": func(http.Header) {},
		"a wrong secret":     func(hd http.Header) { hd.Set(secretHeader, wrong) },
		"an empty one":       func(hd http.Header) { hd.Set(secretHeader, "") },
		"the secret twice": func(hd http.Header) {
			hd[http.CanonicalHeaderKey(secretHeader)] = []string{testFwdSecret, testFwdSecret}
		},
		"the secret and more":   func(hd http.Header) { hd.Set(secretHeader, testFwdSecret+"x") },
		"a prefix of it":        func(hd http.Header) { hd.Set(secretHeader, testFwdSecret[:20]) },
		"the right and a wrong": func(hd http.Header) { hd[http.CanonicalHeaderKey(secretHeader)] = []string{wrong, testFwdSecret} },
	} {
		t.Run(name, func(t *testing.T) {
			hdr := h.forgedThroughLB(alice)
			set(hdr)
			r := h.askRaw(fwdPrefix+"/auth", hdr)
			// Not the proxy's: no token, and with RP_PATH_RULES set its
			// description of the request is not believed.
			if got := r.Header.Get("Authorization"); got != "" {
				t.Errorf("Authorization %q: the token went to a request that did not prove it is the proxy's", got)
			}
			wantForbidden(t, r)
			if !strings.Contains(r.body, "the request did not come through the proxy rp trusts") {
				t.Errorf("403 page does not say why: %.600s", r.body)
			}
			// Not signed in: sign-in comes back to rp's home, not to the
			// forged URI.
			anon := h.trustedHeaders("/app", nil)
			set(anon)
			h.wantSignIn(t, h.askRaw(fwdPrefix+"/auth", anon), http.StatusFound, fwdPrefix+"/")
		})
	}
	if strings.Contains(logs.String(), testFwdSecret) || strings.Contains(logs.String(), wrong) {
		t.Errorf("the log holds a secret sent in %s:\n%s", secretHeader, logs.String())
	}
}

// TestAuthWrongForwardAuthSecretIsASecurityEvent: a wrong secret is one
// WARN line with the request id, and never the value sent.
func TestAuthWrongForwardAuthSecretIsASecurityEvent(t *testing.T) {
	var logs syncBuffer
	h := newForwardAuth(t, withEnv("RP_PASS_ACCESS_TOKEN", "true"), withForwardAuthSecret(), withLogs(&logs))
	alice, _ := h.signInForToken()
	hdr := h.forgedThroughLB(alice)
	hdr.Set(secretHeader, "guessed-guess-guessed-guess-1234567890")
	r := h.askRaw(fwdPrefix+"/auth", hdr)
	if r.Header.Get("Authorization") != "" {
		t.Fatal("a wrong secret got the token")
	}
	id := r.Header.Get("X-Request-Id")
	var found bool
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "request_id="+id) && strings.Contains(line, secretHeader) {
			found = true
			if strings.Contains(line, "guessed") {
				t.Errorf("the WARN line quotes the secret sent: %s", line)
			}
		}
	}
	if id == "" || !found {
		t.Errorf("no WARN line naming %s with request_id=%s:\n%s", secretHeader, id, logs.String())
	}
	if strings.Contains(r.body, "guessed") || strings.Contains(strings.Join(r.Header.Values(secretHeader), ""), "guessed") {
		t.Error("the answer echoes the secret sent")
	}
}

// TestAuthForwardAuthSecretWithoutToken: with the secret set and
// RP_PASS_ACCESS_TOKEN off, the proxies work as before and no token is sent.
func TestAuthForwardAuthSecretWithoutToken(t *testing.T) {
	h := newForwardAuth(t, withForwardAuthSecret())
	alice := h.signInAs("alice", nil)
	for _, p := range allProxies {
		wantAllowed(t, h.ask(p, navigation("/app", alice)), identity{user: "alice", email: "alice@example.com", username: "alice"})
		h.wantSignIn(t, h.ask(p, navigation("/app/x?y=1", nil)), map[bool]int{true: 401, false: 302}[p == nginx], "/app/x?y=1")
	}
}
