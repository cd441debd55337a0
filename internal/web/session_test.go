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

// TestProfileSaysWhenTheSessionEnds: the profile says in words when the
// session ends, at the latest (the lifetime's end) and without use (the
// idle timeout, when it can come first), with the lifetime's end as a
// date, and never a Go duration like 1h0m0s.
func TestProfileSaysWhenTheSessionEnds(t *testing.T) {
	goDuration := regexp.MustCompile(`\d+h\d+m\d+s|\b\d+m\d+s\b`)
	for _, c := range []struct {
		lifetime, idle string
		want           string
		lifetimeEnd    time.Duration
	}{
		{"11h", "1h", "in 11 hours, or after 1 hour without use", 11 * time.Hour},
		{"12h", "0", "in 12 hours", 12 * time.Hour},
		{"72h", "90m", "in 3 days, or after 90 minutes without use", 72 * time.Hour},
		{"30m", "30m", "in 30 minutes", 30 * time.Minute},
	} {
		t.Run(c.lifetime+"/"+c.idle, func(t *testing.T) {
			h := newHarness(t, withEnv("RP_SESSION_LIFETIME", c.lifetime), withEnv("RP_SESSION_IDLE_TIMEOUT", c.idle))
			signedIn := time.Now()
			h.login()
			body := h.get("/profile").body
			m := regexp.MustCompile(`Session ends</dt><dd>([^<]*) <span class="small">\(at the latest <time datetime="([^"]+)">([^<]+)</time>\)`).FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no end on the profile:\n%s", body)
			}
			if m[1] != c.want {
				t.Errorf("the session ends %q, want %q", m[1], c.want)
			}
			if c.idle == "0" && strings.Contains(body, "without use") {
				t.Error("an idle clause without an idle timeout")
			}
			end, err := time.Parse(time.RFC3339, m[2])
			if err != nil {
				t.Fatal(err)
			}
			if want := end.UTC().Format("2 Jan 2006, 15:04 UTC"); m[3] != want {
				t.Errorf("the end reads %q, want %q", m[3], want)
			}
			if d := end.Sub(signedIn.Add(c.lifetimeEnd)); d < -time.Minute || d > time.Minute {
				t.Errorf("ends at the latest %v, want sign-in + %s (%v)", end, c.lifetime, signedIn.Add(c.lifetimeEnd))
			}
			if !strings.Contains(body, "Signed in</dt><dd>just now") {
				t.Error("the sign-in time is not in words")
			}
			if d := goDuration.FindString(body); d != "" {
				t.Errorf("the profile shows a Go duration %q:\n%s", d, body)
			}
		})
	}
}
