package web_test

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/testprovider"
)

// waitReady polls /readyz until it answers 200; the bound is generous and
// only there so a broken build fails instead of hanging.
func (h *harness) waitReady() {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if h.get("/readyz").StatusCode == http.StatusOK {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatal("rp did not become ready")
}

func TestProviderDownAtStartThenRecovers(t *testing.T) {
	op := testprovider.New(t)
	op.Set(func(k *testprovider.Knobs) { k.Down = true })
	h := newHarnessFor(t, op, withoutDiscovery())

	if r := h.get("/healthz"); r.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %d", r.StatusCode)
	}
	r := h.get("/readyz")
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.body, `"provider":"not ready"`) {
		t.Fatalf("/readyz while down: %d %s", r.StatusCode, r.body)
	}
	r = h.get("/login")
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.body, "Sign-in is unavailable") {
		t.Fatalf("/login while down: %d", r.StatusCode)
	}
	if r := h.get("/"); r.StatusCode != http.StatusOK {
		t.Fatalf("home while down: %d", r.StatusCode)
	}

	op.Set(func(k *testprovider.Knobs) { k.Down = false })
	h.waitReady() // no restart: the background discovery retries
	h.login()
	if !h.signedIn(h.client) {
		t.Fatal("not signed in after recovery")
	}
}

func TestHangingTokenEndpointGivesAnErrorPage(t *testing.T) {
	h := newHarness(t, withEnv("RP_PROVIDER_TIMEOUT", "200ms"))
	h.op.Set(func(k *testprovider.Knobs) { k.TokenDelay = time.Minute })
	r := h.get(h.startLogin(""))
	if r.StatusCode != http.StatusGatewayTimeout || !strings.Contains(r.body, "did not answer in time") {
		t.Fatalf("status %d, want a 504 page", r.StatusCode)
	}
	if h.signedIn(h.client) {
		t.Fatal("signed in")
	}
}

func TestJWKSOutageGivesAnErrorPage(t *testing.T) {
	h := newHarness(t)
	h.op.Set(func(k *testprovider.Knobs) { k.JWKSDown = true })
	r := h.get(h.startLogin(""))
	if r.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", r.StatusCode)
	}
	h.op.Set(func(k *testprovider.Knobs) { k.JWKSDown = false })
	h.login()
}

func TestSigningKeyRotation(t *testing.T) {
	h := newHarness(t)
	h.login()
	h.op.Rotate(t, false)
	h.client = newBrowser(t)
	h.login() // the new kid is fetched
	if !h.signedIn(h.client) {
		t.Fatal("not signed in after rotation")
	}
}

// TestUnknownKidFloodIsThrottled: ID tokens naming made-up kids (a hostile
// provider) must not turn into as many JWKS fetches: 3 at most, the first
// sign-in's included. Once the allowance is spent, the page is the
// retryable 502, not "Sign-in failed".
func TestUnknownKidFloodIsThrottled(t *testing.T) {
	h := newHarness(t, withClock(newTestClock()))
	h.login() // keys cached
	h.client = newBrowser(t)
	before := h.op.Count("jwks")
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const attempts = 25
	for i := range attempts {
		h.op.Set(func(k *testprovider.Knobs) { k.SignWith = forger; k.SignKID = "kid-" + string(rune('a'+i)) })
		r := h.get(h.startLogin(""))
		switch {
		case i < 2 && r.StatusCode != http.StatusBadRequest:
			t.Fatalf("attempt %d: status %d, want 400", i, r.StatusCode)
		case i >= 2 && (r.StatusCode != http.StatusBadGateway || !strings.Contains(r.body, "Try again in a few seconds")):
			t.Fatalf("attempt %d: status %d, want the retryable 502 page; body %.300s", i, r.StatusCode, r.body)
		}
	}
	if fetched := h.op.Count("jwks") - before; fetched > 3 {
		t.Fatalf("%d forged kids caused %d JWKS fetches, want at most 3", attempts, fetched)
	}
}

func TestSessionsSurviveARestart(t *testing.T) {
	op := testprovider.New(t)
	store := "sqlite:" + filepath.Join(t.TempDir(), "sessions.db")
	h := newHarnessFor(t, op, withEnv("RP_SESSION_STORE", store))
	h.login()
	ck := h.cookie(h.client)
	h.srv.Close()
	if err := h.app.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := newHarnessFor(t, op, withEnv("RP_SESSION_STORE", store))
	if !h2.signedIn(h2.clientWithCookie(ck)) {
		t.Fatal("the session did not survive a restart")
	}
}

func TestStoreDownGivesAnErrorPageAndNotReady(t *testing.T) {
	op := testprovider.New(t)
	h := newHarnessFor(t, op, withEnv("RP_SESSION_STORE", "sqlite:"+filepath.Join(t.TempDir(), "s.db")))
	h.login()
	if err := h.app.Sessions.Close(); err != nil {
		t.Fatal(err)
	}
	r := h.get("/profile")
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.body, "Sessions cannot be read or saved") {
		t.Fatalf("/profile with the store down: %d", r.StatusCode)
	}
	r = h.get("/readyz")
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.body, `"store":"unreachable"`) {
		t.Fatalf("/readyz: %d %s", r.StatusCode, r.body)
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/", "/profile", "/login", "/logout", "/logged-out", "/nope", "/callback?state=x", "/readyz", "/static/style.css"} {
		r := h.get(path)
		hd := r.Header
		csp := hd.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") ||
			strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, hd)
		}
		if path != "/static/style.css" && hd.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", path, hd.Get("Cache-Control"))
		}
	}
	if r := h.get("/nope"); r.StatusCode != http.StatusNotFound || !strings.Contains(r.body, "Page not found") {
		t.Errorf("/nope: %d", r.StatusCode)
	}
	if csp := h.get("/").Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+h.op.Issuer) {
		t.Errorf("form-action does not allow the end-session redirect: %q", csp)
	}
}
