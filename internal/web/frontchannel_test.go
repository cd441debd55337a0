package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/testprovider"
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

// TestFrontchannelLogoutOff: with RP_FRONTCHANNEL_LOGOUT=false (an rp whose
// provider sends back-channel logouts), whoever knows a user's sid cannot
// end that session from another site: the route is not there, and answers
// rp's not-found page whatever the method. rp says at start that it is off.
func TestFrontchannelLogoutOff(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, withEnv("RP_FRONTCHANNEL_LOGOUT", "false"), withLogs(&logs))
	a := h.loginAs("alice", "sid-1")

	// A link or an iframe on another site: no cookie, cross-site.
	req, err := http.NewRequest(http.MethodGet, h.base+"/frontchannel-logout?"+url.Values{"iss": {h.op.Issuer}, "sid": {"sid-1"}}.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Sec-Fetch-Dest", "iframe")
	r := h.do(newBrowser(t), req)
	if r.StatusCode != http.StatusNotFound || !strings.Contains(r.body, "Page not found") {
		t.Errorf("GET /frontchannel-logout with the setting off: status %d, want 404 with rp's not-found page\n%.400s", r.StatusCode, r.body)
	}
	if !h.signedIn(a) {
		t.Fatal("a cross-site GET /frontchannel-logout ended the session although RP_FRONTCHANNEL_LOGOUT=false")
	}
	// Not framable either: the page is rp's ordinary one.
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q, want frame-ancestors 'none'", csp)
	}
	if r := h.post("/frontchannel-logout", url.Values{"iss": {h.op.Issuer}, "sid": {"sid-1"}}, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("POST /frontchannel-logout with the setting off: status %d, want 404", r.StatusCode)
	}
	if !strings.Contains(logs.String(), "front-channel logout is off") {
		t.Errorf("no start-up line saying front-channel logout is off:\n%s", logs.String())
	}
	// Back-channel logout still works.
	tok := h.op.LogoutToken(h.op.LogoutClaims("alice", "sid-1"), testprovider.TokenHeader{})
	if r := h.backchannel(url.Values{"logout_token": {tok}}); r.StatusCode != http.StatusOK {
		t.Fatalf("back-channel logout: %d %s", r.StatusCode, r.body)
	}
	if h.signedIn(a) {
		t.Fatal("back-channel logout did not end the session")
	}
}

// TestFrontchannelLogoutOnByDefault: without the setting, and with it set
// to true, the provider's front-channel request ends the session as before.
func TestFrontchannelLogoutOnByDefault(t *testing.T) {
	for name, opts := range map[string][]option{"default": nil, "true": {withEnv("RP_FRONTCHANNEL_LOGOUT", "true")}} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, opts...)
			a := h.loginAs("alice", "sid-1")
			if r := h.frontchannel(url.Values{"iss": {h.op.Issuer}, "sid": {"sid-1"}}); r.StatusCode != http.StatusOK {
				t.Fatalf("status %d", r.StatusCode)
			}
			if h.signedIn(a) {
				t.Fatal("the session named by iss and sid is still signed in")
			}
		})
	}
}
