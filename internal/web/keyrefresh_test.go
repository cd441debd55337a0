package web_test

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/testprovider"
)

// floodForgedKids posts n logout tokens for alice, each signed by a key
// of the attacker under a kid never seen before, as the attack review
// did; none may end a session.
func floodForgedKids(t *testing.T, h *harness, n int) {
	t.Helper()
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		tok := h.op.LogoutToken(h.op.LogoutClaims("alice", "sid-1"), testprovider.TokenHeader{Key: forger, KID: rand.Text()})
		if r := h.sendLogoutToken(tok); r.StatusCode != http.StatusBadRequest && r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("a forged token: status %d; body %s", r.StatusCode, r.body)
		}
	}
}

// retryAfter returns a 503's Retry-After in seconds, failing unless it is
// a positive number.
func retryAfter(t *testing.T, r resp) time.Duration {
	t.Helper()
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After %q, want a number of seconds", r.Header.Get("Retry-After"))
	}
	return time.Duration(secs) * time.Second
}

// TestForgedKidFloodDoesNotDelayANewKey reproduces the attack review's
// finding: forged logout tokens naming made-up kids used up the one JWKS
// refresh allowance, so a sign-in right after the provider rotated its key
// was refused, and so were genuine logout tokens. Sign-in has an allowance
// of its own; the key it fetches serves logout tokens too.
func TestForgedKidFloodDoesNotDelayANewKey(t *testing.T) {
	h := newHarness(t, withClock(newTestClock()))
	victim := h.loginAs("alice", "sid-1")
	floodForgedKids(t, h, 30)

	h.op.Rotate(t, false)
	h.client = newBrowser(t)
	if r := h.get(h.startLogin("")); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("a sign-in right after the rotation: status %d, want 303; body %.300s", r.StatusCode, r.body)
	}
	tok := h.op.LogoutToken(h.op.LogoutClaims("alice", "sid-1"), testprovider.TokenHeader{})
	wantLogoutOK(t, h.sendLogoutToken(tok))
	if h.signedIn(victim) {
		t.Fatal("a genuine logout token did not end the session")
	}
}

// TestLogoutTokenNamingANewKeyAfterAFloodIsRetryable: when a genuine logout
// token arrives first after the rotation, while forged ones have used up
// logout tokens' allowance, the answer is 503 with Retry-After, never the
// final 400, and the provider's retry then ends the session.
func TestLogoutTokenNamingANewKeyAfterAFloodIsRetryable(t *testing.T) {
	clock := newTestClock()
	h := newHarness(t, withClock(clock))
	victim := h.loginAs("alice", "sid-1")
	floodForgedKids(t, h, 30)

	h.op.Rotate(t, false)
	tok := h.op.LogoutToken(h.op.LogoutClaims("alice", "sid-1"), testprovider.TokenHeader{})
	r := h.sendLogoutToken(tok)
	wantLogoutError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable", tok)
	wait := retryAfter(t, r)
	if !h.signedIn(victim) {
		t.Fatal("ended without a verified token")
	}
	clock.Advance(wait)
	wantLogoutOK(t, h.sendLogoutToken(tok))
	if h.signedIn(victim) {
		t.Fatal("the retried token did not end the session")
	}
}
