package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/testprovider"
)

// TestSecurityEventsAreWarnings: each security event (a refused token and
// why, a refused logout, a replayed jti, a forged callback) is one WARN
// line carrying the request id that the user's answer (its X-Request-Id
// and error page) shows, so support can go from a user's screen to the
// reason.
func TestSecurityEventsAreWarnings(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, withLogs(&logs))

	check := func(event string, r resp, want ...string) {
		t.Helper()
		id := r.Header.Get("X-Request-Id")
		if id == "" {
			t.Fatalf("%s: no X-Request-Id", event)
		}
		var found bool
		for _, line := range strings.Split(logs.String(), "\n") {
			if !strings.Contains(line, "request_id="+id) || !strings.Contains(line, "level=WARN") {
				continue
			}
			all := true
			for _, w := range want {
				all = all && strings.Contains(line, w)
			}
			found = found || all
		}
		if !found {
			t.Errorf("%s: no WARN line with request_id=%s and %q in:\n%s", event, id, want, logs.String())
		}
		if r.StatusCode >= 400 && r.Header.Get("Content-Type") != "application/json" && !strings.Contains(r.body, id) {
			t.Errorf("%s: the error page (%d) does not show the request id %s", event, r.StatusCode, id)
		}
	}

	// A callback whose state rp never issued.
	check("forged state", h.get("/callback?state=forged&code=c"), "unknown, expired or used state")

	// An ID token that fails a check rp makes itself (the nonce).
	h.op.Set(func(k *testprovider.Knobs) { k.IDTokenClaims = func(c map[string]any) { c["nonce"] = "another" } })
	r := h.get(h.startLogin(""))
	if r.StatusCode < 400 {
		t.Fatalf("an ID token with another nonce: %d", r.StatusCode)
	}
	check("rejected ID token", r, "nonce")
	h.op.Set(func(k *testprovider.Knobs) { k.IDTokenClaims = nil })

	h.login()
	// RP-initiated logout without the CSRF token, and from another origin.
	check("logout without CSRF", h.post("/logout", url.Values{}, map[string]string{"Origin": h.base}), "CSRF")
	check("logout from another origin", h.post("/logout", url.Values{"csrf_token": {h.csrf()}},
		map[string]string{"Origin": "https://evil.example"}), "another origin", "evil.example")

	// Back-channel: an unsigned logout token, then a replayed one.
	none := h.op.LogoutToken(h.op.LogoutClaims("alice", "x"), testprovider.TokenHeader{Alg: "none", None: true})
	check("unsigned logout token", h.post("/backchannel-logout", url.Values{"logout_token": {none}}, nil),
		"back-channel logout refused", "reason=")
	good := h.op.LogoutToken(h.op.LogoutClaims("alice", ""), testprovider.TokenHeader{})
	if r := h.post("/backchannel-logout", url.Values{"logout_token": {good}}, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("first logout token: %d %s", r.StatusCode, r.body)
	}
	check("replayed jti", h.post("/backchannel-logout", url.Values{"logout_token": {good}}, nil), "jti was already used")

	// Front-channel: another issuer.
	check("front-channel for another issuer", h.get("/frontchannel-logout?iss="+url.QueryEscape("https://evil.example")+"&sid=s"),
		"another issuer")
}
