package web_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/testprovider"
)

func TestConfiguredSigningAlgorithmIsTheOnlyOne(t *testing.T) {
	h := newHarness(t, withEnv("RP_ID_TOKEN_SIGNING_ALG", "RS384"))
	h.op.Set(func(k *testprovider.Knobs) { k.SignAlg = "RS384" })
	h.login()
	if !h.signedIn(h.client) {
		t.Fatal("an RS384 ID token was refused although RS384 is configured")
	}
	h.client = newBrowser(t)
	h.op.Set(func(k *testprovider.Knobs) { k.SignAlg = "RS256" })
	if r := h.get(h.startLogin("")); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("an RS256 ID token with RS384 configured: status %d", r.StatusCode)
	}
}

// The two expiry tests wait for real time to pass (scs reads the clock
// itself); they assert what happens after, never how long anything took.

func TestIdleTimeoutEndsTheSession(t *testing.T) {
	h := newHarness(t, withEnv("RP_SESSION_IDLE_TIMEOUT", "600ms"))
	h.login()
	if !h.signedIn(h.client) {
		t.Fatal("not signed in")
	}
	time.Sleep(time.Second)
	if h.signedIn(h.client) {
		t.Fatal("the session outlived its idle timeout")
	}
}

func TestLifetimeEndsTheSessionEvenWhenUsed(t *testing.T) {
	h := newHarness(t, withEnv("RP_SESSION_LIFETIME", "1200ms"), withEnv("RP_SESSION_IDLE_TIMEOUT", "0"))
	h.login()
	end := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(end) {
		h.get("/") // in use all along
		time.Sleep(200 * time.Millisecond)
	}
	if h.signedIn(h.client) {
		t.Fatal("the session outlived its absolute lifetime")
	}
}

func TestHTTPSMakesTheCookieSecure(t *testing.T) {
	h := newHarness(t, withTLS())
	r := h.login()
	var ck *http.Cookie
	for _, c := range r.Cookies() {
		if strings.HasSuffix(c.Name, "rp_session") {
			ck = c
		}
	}
	if ck == nil || ck.Name != "__Host-rp_session" || !ck.Secure || !ck.HttpOnly || ck.Domain != "" || ck.Path != "/" {
		t.Fatalf("cookie %+v, want __Host-rp_session, Secure, HttpOnly, host-only, Path=/", ck)
	}
	if !h.signedIn(h.client) {
		t.Fatal("not signed in over https")
	}
	if hsts := h.get("/").Header.Get("Strict-Transport-Security"); hsts == "" {
		t.Error("no HSTS over https")
	}
}

// TestProfileShowsWhenTheSessionEndsAtTheLatest: "Session ends by" is the
// lifetime's end, with the idle timeout named beside it, not the idle
// deadline of the moment.
func TestProfileShowsWhenTheSessionEndsAtTheLatest(t *testing.T) {
	h := newHarness(t, withEnv("RP_SESSION_LIFETIME", "12h"), withEnv("RP_SESSION_IDLE_TIMEOUT", "1h"))
	signedIn := time.Now()
	h.login()
	body := h.get("/profile").body
	m := regexp.MustCompile(`Session ends by</dt><dd>([^(<]+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no end on the profile:\n%s", body)
	}
	end, err := time.Parse(time.RFC1123, strings.TrimSpace(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	if d := end.Sub(signedIn.Add(12 * time.Hour)); d < -time.Minute || d > time.Minute {
		t.Fatalf("ends by %v, want sign-in + 12h (%v)", end, signedIn.Add(12*time.Hour))
	}
	if !strings.Contains(body, "or after 1h0m0s without use") {
		t.Error("the idle timeout is not named")
	}
}
