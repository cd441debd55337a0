package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// frontchannel asks for /frontchannel-logout as the provider's hidden
// iframe would: a third-party context, no cookie.
func (h *harness) frontchannel(q url.Values) resp {
	h.t.Helper()
	return h.getWith(newBrowser(h.t), "/frontchannel-logout?"+q.Encode())
}

func TestFrontchannelLogoutEndsTheSession(t *testing.T) {
	h := newHarness(t)
	a := h.loginAs("alice", "sid-1")
	other := h.loginAs("alice", "sid-2")
	r := h.frontchannel(url.Values{"iss": {h.op.Issuer}, "sid": {"sid-1"}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d", r.StatusCode)
	}
	if h.signedIn(a) {
		t.Fatal("the session named by iss and sid is still signed in")
	}
	if !h.signedIn(other) {
		t.Fatal("another session was ended")
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors "+h.op.Issuer) || strings.Contains(csp, "frame-ancestors 'none'") ||
		!strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q: want frame-ancestors of the provider's origin only", csp)
	}
	if xfo := r.Header.Get("X-Frame-Options"); xfo != "" {
		t.Errorf("X-Frame-Options %q forbids the provider's iframe", xfo)
	}
	// Other pages still refuse to be framed.
	if csp := h.get("/").Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("home CSP %q", csp)
	}
}

func TestFrontchannelLogoutNeedsTheIssuerAndASid(t *testing.T) {
	h := newHarness(t)
	a := h.loginAs("alice", "sid-1")
	for name, q := range map[string]url.Values{
		"nothing":         {},
		"sid only":        {"sid": {"sid-1"}},
		"iss only":        {"iss": {h.op.Issuer}},
		"another issuer":  {"iss": {"https://evil.example"}, "sid": {"sid-1"}},
		"issuer with a /": {"iss": {h.op.Issuer + "/"}, "sid": {"sid-1"}},
		"two sids":        {"iss": {h.op.Issuer}, "sid": {"sid-1", "sid-2"}},
		"empty sid":       {"iss": {h.op.Issuer}, "sid": {""}},
		"two issuers":     {"iss": {"https://evil.example", h.op.Issuer}, "sid": {"sid-1"}},
	} {
		r := h.frontchannel(q)
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, r.StatusCode)
		}
		if !h.signedIn(a) {
			t.Fatalf("%s ended the session", name)
		}
	}
	if r := h.frontchannel(url.Values{"iss": {h.op.Issuer}, "sid": {"sid-unknown"}}); r.StatusCode != http.StatusOK {
		t.Errorf("an unknown sid: status %d", r.StatusCode)
	}
	if !h.signedIn(a) {
		t.Fatal("an unknown sid ended the session")
	}
}
