package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/testprovider"
)

func TestSignInRoundTrip(t *testing.T) {
	h := newHarness(t)
	// A session token chosen by an attacker (planted by a sibling site on
	// http, say) must not become the signed-in one.
	base, _ := url.Parse(h.base)
	planted := &http.Cookie{Name: "rp_session", Value: "planted-by-an-attacker-0123456789abcdef", Path: "/"}
	h.client.Jar.SetCookies(base, []*http.Cookie{planted})

	// An unauthenticated browser asking for the protected page is sent
	// into sign-in and comes back to it.
	loginURL := h.expectRedirect(h.get("/profile"), http.StatusSeeOther)
	if loginURL != "/login?return_to=%2Fprofile" {
		t.Fatalf("profile redirects to %q", loginURL)
	}
	login := h.get(loginURL)
	authURL := h.expectRedirect(login, http.StatusSeeOther)
	u, _ := url.Parse(authURL)
	q := u.Query()
	if !strings.HasPrefix(authURL, h.op.Issuer+"/authorize?") {
		t.Fatalf("login redirects to %q", authURL)
	}
	for k, want := range map[string]string{
		"response_type": "code", "client_id": h.op.ClientID, "code_challenge_method": "S256",
		"redirect_uri": h.base + "/callback", "scope": "openid profile email",
		// RP_OFFLINE_ACCESS is off by default: no offline_access, so no
		// prompt=consent (offline_access_test.go covers it on).
		"prompt": "",
	} {
		if q.Get(k) != want {
			t.Errorf("authorization request %s = %q, want %q", k, q.Get(k), want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 22 {
			t.Errorf("authorization request %s = %q: too short to be random", k, q.Get(k))
		}
	}
	// The sign-in is bound to this browser by a sealed cookie of its own,
	// named after its state; nothing is stored for it.
	var bound *http.Cookie
	for _, c := range login.Cookies() {
		if c.Name == "rp_session_signin_"+q.Get("state") {
			bound = c
		} else {
			t.Errorf("/login set another cookie: %s", c.Name)
		}
	}
	if bound == nil || !bound.HttpOnly || bound.SameSite != http.SameSiteLaxMode || bound.Path != "/" || bound.Domain != "" || bound.MaxAge != 600 {
		t.Fatalf("sign-in cookie = %+v; want HttpOnly, SameSite=Lax, host-only, Path=/, Max-Age=600", bound)
	}
	for _, k := range []string{"nonce", "code_challenge"} {
		if strings.Contains(bound.Value, q.Get(k)) {
			t.Errorf("the sign-in cookie shows the %s", k)
		}
	}
	if st := h.app.Sessions.Stats(); st.Writes != 0 {
		t.Fatalf("starting a sign-in made %d store writes", st.Writes)
	}

	callback := h.expectRedirect(h.get(authURL), http.StatusFound)
	r := h.get(callback)
	if got := h.expectRedirect(r, http.StatusSeeOther); got != "/profile" {
		t.Fatalf("callback redirects to %q, want /profile", got)
	}
	var set *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == "rp_session" {
			set = c
		}
	}
	if set == nil || !set.HttpOnly || set.SameSite != http.SameSiteLaxMode || set.Domain != "" || set.Path != "/" || set.Secure {
		t.Fatalf("session cookie = %+v; want HttpOnly, SameSite=Lax, host-only, Path=/ (not Secure on http)", set)
	}
	if set.Value == planted.Value {
		t.Fatal("session token not renewed at sign-in (fixation)")
	}
	for _, c := range r.Cookies() {
		if c.Name == bound.Name && c.MaxAge >= 0 {
			t.Fatalf("the callback kept the sign-in cookie: %+v", c)
		}
	}
	if left := h.cookieNamed(h.client, bound.Name); left != nil {
		t.Fatal("the browser still holds the sign-in cookie after the callback")
	}

	p := h.get("/profile")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("/profile: %d", p.StatusCode)
	}
	for _, want := range []string{"Alice Example", "alice@example.com", "<code>sid</code>", "Log out"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("/profile lacks %q", want)
		}
	}
	if p.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("/profile Cache-Control = %q", p.Header.Get("Cache-Control"))
	}
	for _, secret := range []string{"at-", "rt-", "eyJ", "<code>nonce</code>", "at_hash"} {
		if strings.Contains(p.body, secret) {
			t.Errorf("/profile shows a token (%q)", secret)
		}
	}

	// The planted token is dead: fixation would need it to work.
	if h.signedIn(h.clientWithCookie(planted)) {
		t.Fatal("the cookie from before sign-in is signed in")
	}
	if h.op.Count("userinfo") != 0 {
		t.Errorf("UserInfo fetched although the ID token had every requested claim")
	}
}

func TestSignInFetchesMissingClaimsFromUserInfo(t *testing.T) {
	h := newHarness(t)
	h.op.Set(func(k *testprovider.Knobs) {
		k.IDTokenClaims = func(c map[string]any) { delete(c, "email") }
		k.UserInfo = map[string]any{"email": "alice@corp.example", "iss": "https://not-merged.example"}
	})
	h.login()
	p := h.get("/profile")
	if !strings.Contains(p.body, "alice@corp.example") {
		t.Fatalf("profile lacks the UserInfo email: %.600s", p.body)
	}
	if strings.Contains(p.body, "not-merged") {
		t.Error("a UserInfo claim overrode an ID token claim")
	}
	if h.op.Count("userinfo") != 1 {
		t.Fatalf("UserInfo calls = %d, want 1", h.op.Count("userinfo"))
	}
}

func TestReturnToAfterSignIn(t *testing.T) {
	cases := map[string]string{
		"/profile?tab=claims":     "/profile?tab=claims",
		"//evil.example/x":        "/",
		"/\\evil.example":         "/",
		"https://evil.example/":   "/",
		"/%2F%2Fevil.example":     "/",
		"/%5Cevil.example":        "/",
		"/%252F%252Fevil.example": "/",
		"HTTPS://evil.example":    "/",
		"javascript:alert(1)":     "/",
		"/logout":                 "/",
		"":                        "/",
	}
	for in, want := range cases {
		t.Run(in, func(t *testing.T) {
			h := newHarness(t)
			got := h.expectRedirect(h.get(h.startLogin(in)), http.StatusSeeOther)
			if got != want {
				t.Fatalf("return_to %q lands on %q, want %q", in, got, want)
			}
		})
	}
}
