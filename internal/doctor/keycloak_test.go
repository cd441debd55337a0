package doctor_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/doctor"
	"github.com/rp-project/rp/internal/testprovider"
)

// What Keycloak 26 answers to doctor's probes, as e2e/keycloak saw it, and
// what doctor must make of it. The test provider answers the same way in
// its Keycloak shape.

// TestSignInRequestRefused: Keycloak takes the redirect URI but sends the
// sign-in back with an error when the client may not use the code flow
// (unauthorized_client) or may not ask for a scope rp asks for
// (invalid_scope, offline_access above all). Every sign-in would fail.
func TestSignInRequestRefused(t *testing.T) {
	for _, c := range []struct {
		name    string
		knobs   func(k *testprovider.Knobs)
		env     map[string]string
		status  doctor.Status
		detail  string
		fix     []string
		notInFx string
	}{
		{name: "standard flow off", knobs: func(k *testprovider.Knobs) { k.NoStandardFlow = true },
			status: doctor.Fail, detail: "unauthorized_client", fix: []string{"Standard flow"}},
		{name: "offline_access not among the client's scopes", knobs: func(k *testprovider.Knobs) { k.Scopes = []string{"openid", "profile", "email"} },
			env: map[string]string{"RP_OFFLINE_ACCESS": "true"}, status: doctor.Fail, detail: "invalid_scope", fix: []string{"offline_access", "Optional", "RP_OFFLINE_ACCESS=false"}},
		{name: "another scope not allowed", knobs: func(k *testprovider.Knobs) { k.Scopes = []string{"openid", "profile", "email", "offline_access"} },
			env: map[string]string{"RP_SCOPES": "openid profile email phone"}, status: doctor.Fail, detail: "invalid_scope",
			fix: []string{"RP_SCOPES", "Client scopes"}},
		{name: "RP_OFFLINE_ACCESS=false asks for the client's scopes only", knobs: func(k *testprovider.Knobs) { k.Scopes = []string{"openid", "profile", "email"} },
			env: map[string]string{"RP_OFFLINE_ACCESS": "false"}, status: doctor.OK, detail: `"openid profile email"`},
		{name: "all allowed", env: map[string]string{"RP_OFFLINE_ACCESS": "true"}, status: doctor.OK, detail: `"openid profile email offline_access"`},
		{name: "the default asks for no offline_access", status: doctor.OK, detail: `"openid profile email"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			op := testprovider.New(t, testprovider.Keycloak("demo"))
			registered(op)
			if c.knobs != nil {
				op.Set(c.knobs)
			}
			findings, ok, out := run(t, configFor(t, op, c.env), doctor.Options{})
			if ok != (c.status != doctor.Fail) {
				t.Errorf("run ok = %v\n%s", ok, out)
			}
			if f := findings["redirect URI"]; f.Status != doctor.OK {
				t.Errorf("the redirect URI is registered, yet %+v", f)
			}
			f, found := findings["sign-in request"]
			if !found || f.Status != c.status || !strings.Contains(f.Detail, c.detail) {
				t.Fatalf("sign-in request = %+v, want %s with %q\n%s", f, c.status, c.detail, out)
			}
			for _, want := range c.fix {
				if !strings.Contains(f.Fix, want) {
					t.Errorf("fix %q does not mention %q", f.Fix, want)
				}
			}
		})
	}
}

// TestProbesLeaveNothingBehind: doctor's sign-in probe asks with
// prompt=none and no cookie, so the provider shows no login page (Keycloak
// keeps an authentication session for each one it shows) and comes back
// at once; it asks for rp's own scopes; the logout probe carries no
// id_token_hint; doctor follows no redirect.
func TestProbesLeaveNothingBehind(t *testing.T) {
	op := testprovider.New(t, testprovider.Keycloak("demo"))
	registered(op)
	var mu sync.Mutex
	var seen []*http.Request
	op.Set(func(k *testprovider.Knobs) {
		k.Seen = func(r *http.Request) { mu.Lock(); seen = append(seen, r.Clone(r.Context())); mu.Unlock() }
	})
	findings, ok, out := run(t, configFor(t, op, nil), doctor.Options{})
	if !ok {
		t.Fatalf("a healthy setup failed:\n%s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	var authorize, logout int
	for _, r := range seen {
		if len(r.Cookies()) > 0 {
			t.Errorf("%s %s sent cookies", r.Method, r.URL.Path)
		}
		q := r.URL.Query()
		switch {
		case strings.HasSuffix(r.URL.Path, "/auth"):
			authorize++
			if q.Get("prompt") != "none" || q.Get("scope") != "openid profile email" ||
				q.Get("redirect_uri") != "http://localhost:8000/callback" || q.Get("code_challenge_method") != "S256" {
				t.Errorf("sign-in probe %s: want prompt=none, rp's scopes, redirect URI and PKCE", r.URL.RawQuery)
			}
		case strings.HasSuffix(r.URL.Path, "/logout"):
			logout++
			if q.Has("id_token_hint") || q.Get("client_id") != op.ClientID {
				t.Errorf("logout probe %s", r.URL.RawQuery)
			}
		case strings.HasPrefix(r.URL.Path, "/callback"), strings.HasPrefix(r.URL.Path, "/logged-out"):
			t.Errorf("doctor followed a redirect to %s", r.URL)
		}
	}
	if authorize != 1 || logout != 1 {
		t.Errorf("%d sign-in and %d logout probes, want one each", authorize, logout)
	}
	if f := findings["redirect URI"]; !strings.Contains(f.Detail, "login_required") {
		t.Errorf("redirect URI: %+v, want Keycloak's login_required named as the proof", f)
	}
}

// TestRefusalsQuoteTheProvider: Keycloak refuses with an HTML page; doctor
// quotes its message, not the page's head.
func TestRefusalsQuoteTheProvider(t *testing.T) {
	for _, c := range []struct {
		name, check, quote, fix string
		knobs                   func(k *testprovider.Knobs)
		env                     map[string]string
	}{
		{name: "redirect URI", check: "redirect URI", quote: `"Invalid parameter: redirect_uri"`, fix: "Valid redirect URIs",
			knobs: func(k *testprovider.Knobs) { k.RedirectURIs = []string{"http://elsewhere/callback"} }},
		{name: "post-logout URI", check: "post-logout URI", quote: `"Invalid redirect uri"`, fix: "Valid post logout redirect URIs",
			knobs: func(k *testprovider.Knobs) { k.PostLogoutRedirectURIs = []string{"http://elsewhere/"} }},
		{name: "unknown client, sign-in", check: "redirect URI", quote: `"Client not found."`, fix: "RP_CLIENT_ID",
			env: map[string]string{"RP_CLIENT_ID": "nobody"}},
		{name: "unknown client, logout", check: "post-logout URI", quote: `"Client not found."`, fix: "RP_CLIENT_ID",
			env: map[string]string{"RP_CLIENT_ID": "nobody"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			op := testprovider.New(t, testprovider.Keycloak("demo"))
			registered(op)
			if c.knobs != nil {
				op.Set(c.knobs)
			}
			findings, _, out := run(t, configFor(t, op, c.env), doctor.Options{})
			f := findings[c.check]
			if f.Status != doctor.Fail || !strings.Contains(f.Detail, c.quote) || !strings.Contains(f.Fix, c.fix) {
				t.Errorf("%s = %+v, want a failure quoting %s with a fix naming %q", c.check, f, c.quote, c.fix)
			}
			if strings.Contains(out, "<") {
				t.Errorf("HTML in the output:\n%s", out)
			}
		})
	}
}

// TestWrongSecretKeycloakAnswer: Keycloak refuses a known client's wrong
// secret with 401 unauthorized_client; the client is known (the sign-in
// came back), so the fix is the secret, not the id.
func TestWrongSecretKeycloakAnswer(t *testing.T) {
	op := testprovider.New(t, testprovider.Keycloak("demo"))
	registered(op)
	findings, ok, out := run(t, configFor(t, op, map[string]string{"RP_CLIENT_SECRET": "not-the-secret-of-this-client"}), doctor.Options{})
	f := findings["client credentials"]
	if ok || f.Status != doctor.Fail {
		t.Fatalf("a wrong secret passed:\n%s", out)
	}
	for _, want := range []string{"unauthorized_client", "Invalid client or Invalid client credentials"} {
		if !strings.Contains(f.Detail, want) {
			t.Errorf("detail %q does not quote %q", f.Detail, want)
		}
	}
	for _, want := range []string{"RP_CLIENT_SECRET", "Credentials"} {
		if !strings.Contains(f.Fix, want) {
			t.Errorf("fix %q does not name %q", f.Fix, want)
		}
	}
	if strings.Contains(f.Fix, "RP_CLIENT_ID") {
		t.Errorf("the client is known, yet the fix suspects RP_CLIENT_ID: %q", f.Fix)
	}
	// An unknown client: Keycloak says invalid_client, and the fix names
	// the id.
	findings, _, _ = run(t, configFor(t, op, map[string]string{"RP_CLIENT_ID": "nobody"}), doctor.Options{})
	if f := findings["client credentials"]; f.Status != doctor.Fail || !strings.Contains(f.Detail, "invalid_client") || !strings.Contains(f.Fix, "RP_CLIENT_ID") {
		t.Errorf("unknown client: %+v", f)
	}
}

// TestPublicClient: a public client (Keycloak's "Client authentication"
// off) takes any secret; doctor cannot call the secret right, and names
// the setting.
func TestPublicClient(t *testing.T) {
	op := testprovider.New(t, testprovider.Keycloak("demo"))
	registered(op)
	op.Set(func(k *testprovider.Knobs) { k.PublicClient = true })
	findings, _, out := run(t, configFor(t, op, nil), doctor.Options{})
	f := findings["client credentials"]
	if f.Status != doctor.Warn || !strings.Contains(f.Detail, "not verified") || !strings.Contains(f.Detail, "public") ||
		!strings.Contains(f.Fix, "Client authentication") {
		t.Errorf("client credentials = %+v\n%s", f, out)
	}
}

// TestIssuerFollowsTheRequest: Keycloak without KC_HOSTNAME names itself
// after the address it was reached by; rp reaches it by another address
// than browsers, so the issuer it sees is that one. The fix is Keycloak's
// KC_HOSTNAME, not an RP_ISSUER browsers cannot reach.
func TestIssuerFollowsTheRequest(t *testing.T) {
	op := testprovider.New(t, testprovider.Keycloak("demo"))
	registered(op)
	op.Set(func(k *testprovider.Knobs) { k.IssuerFromRequest = true })
	findings, ok, out := run(t, configFor(t, op, nil), doctor.Options{})
	f := findings["issuer"]
	front, _ := url.Parse(op.Issuer)
	if ok || f.Status != doctor.Fail || !strings.Contains(f.Fix, "KC_HOSTNAME="+front.Scheme+"://"+front.Host) {
		t.Fatalf("issuer = %+v, want a failure whose fix sets KC_HOSTNAME to %s\n%s", f, front.Host, out)
	}
	if i, j := strings.Index(f.Fix, "KC_HOSTNAME="), strings.Index(f.Fix, "RP_ISSUER="+op.DiscoveryURL); j >= 0 && j < i {
		t.Errorf("the fix first tells to set RP_ISSUER to the address only rp uses: %q", f.Fix)
	}

	// Keycloak with KC_HOSTNAME, and RP_ISSUER set to rp's own address
	// for it: RP_ISSUER and RP_DISCOVERY_URL are the fix.
	op.Set(func(k *testprovider.Knobs) { k.IssuerFromRequest = false })
	findings, _, out = run(t, configFor(t, op, map[string]string{"RP_ISSUER": op.DiscoveryURL}), doctor.Options{})
	f = findings["issuer"]
	for _, want := range []string{"RP_ISSUER=" + op.Issuer, "RP_DISCOVERY_URL=" + op.DiscoveryURL, "KC_HOSTNAME"} {
		if !strings.Contains(f.Fix, want) {
			t.Errorf("fix %q does not say %q\n%s", f.Fix, want, out)
		}
	}

	// Browsers use https, Keycloak behind a TLS proxy believes http.
	https := strings.Replace(op.Issuer, "http://", "https://", 1)
	findings, _, out = run(t, configFor(t, op, map[string]string{"RP_ISSUER": https}), doctor.Options{})
	if f := findings["issuer"]; f.Status != doctor.Fail || !strings.Contains(f.Fix, "KC_PROXY_HEADERS") {
		t.Errorf("issuer = %+v, want the proxy headers named\n%s", f, out)
	}
}

// secretEcho is a provider that repeats what it got, secrets included.
type secretEcho struct{ next http.RoundTripper }

func (e secretEcho) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost {
		return e.next.RoundTrip(r)
	}
	_, secret, _ := r.BasicAuth()
	secret, _ = url.QueryUnescape(secret)
	body := `{"error":"invalid_request","error_description":"you sent ` + secret + `"}`
	return &http.Response{StatusCode: http.StatusBadRequest, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader([]byte(body))), Request: r}, nil
}

// TestNoSecretInTheOutput: even a provider that echoes the secret does not
// get it printed.
func TestNoSecretInTheOutput(t *testing.T) {
	op := testprovider.New(t, testprovider.Keycloak("demo"))
	registered(op)
	cookie := "hX3kQ9vLmP2wRt7YbN4cZ8sJfG6dA1eU"
	cfg := configFor(t, op, map[string]string{"RP_COOKIE_SECRET": cookie})
	_, _, out := run(t, cfg, doctor.Options{Transport: secretEcho{http.DefaultTransport}})
	if strings.Contains(out, op.ClientSecret) || strings.Contains(out, cookie) {
		t.Fatalf("a secret in the output:\n%s", out)
	}
	if !strings.Contains(out, "you sent") {
		t.Fatalf("the provider's answer is not shown at all:\n%s", out)
	}
}

// TestHangingProvider: every probe is bounded by RP_PROVIDER_TIMEOUT; a
// token endpoint that never answers is reported, not waited for.
func TestHangingProvider(t *testing.T) {
	op := testprovider.New(t, testprovider.Keycloak("demo"))
	registered(op)
	op.Set(func(k *testprovider.Knobs) { k.TokenDelay = time.Hour })
	findings, ok, _ := run(t, configFor(t, op, map[string]string{"RP_PROVIDER_TIMEOUT": "300ms"}), doctor.Options{})
	if f := findings["client credentials"]; ok || f.Status != doctor.Fail || !strings.Contains(f.Fix, "reachable") {
		t.Errorf("client credentials = %+v", f)
	}
}

// noDate removes the Date header, as Keycloak sends none.
type noDate struct{ next http.RoundTripper }

func (n noDate) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := n.next.RoundTrip(r)
	if err == nil {
		resp.Header.Del("Date")
	}
	return resp, err
}

// TestClockWithoutDate: Keycloak sends no Date header; the skew is not
// measured, and doctor says why.
func TestClockWithoutDate(t *testing.T) {
	op := testprovider.New(t, testprovider.Keycloak("demo"))
	registered(op)
	findings, ok, out := run(t, configFor(t, op, nil), doctor.Options{Transport: noDate{http.DefaultTransport}})
	if f := findings["clock"]; !ok || f.Status != doctor.Warn || !strings.Contains(f.Detail, "Keycloak sends none") {
		t.Errorf("clock = %+v\n%s", f, out)
	}
}
