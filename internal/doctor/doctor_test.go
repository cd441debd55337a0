package doctor_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/config"
	"github.com/rp-project/rp/internal/doctor"
	"github.com/rp-project/rp/internal/testprovider"
)

func configFor(t *testing.T, op *testprovider.Provider, env map[string]string) config.Config {
	t.Helper()
	e := map[string]string{
		"RP_ISSUER": op.Issuer, "RP_DISCOVERY_URL": op.DiscoveryURL, "RP_CLIENT_ID": op.ClientID,
		"RP_CLIENT_SECRET": op.ClientSecret, "RP_BASE_URL": "http://localhost:8000", "RP_PROVIDER_TIMEOUT": "2s",
	}
	for k, v := range env {
		e[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return e[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func run(t *testing.T, cfg config.Config, o doctor.Options) (map[string]doctor.Finding, bool, string) {
	t.Helper()
	findings := doctor.Check(context.Background(), cfg, o)
	var out strings.Builder
	ok := doctor.Print(&out, cfg, findings)
	byCheck := make(map[string]doctor.Finding)
	for _, f := range findings {
		byCheck[f.Check] = f
	}
	t.Log("\n" + out.String())
	return byCheck, ok, out.String()
}

func registered(op *testprovider.Provider) {
	op.Set(func(k *testprovider.Knobs) {
		k.RedirectURIs = []string{"http://localhost:8000/callback"}
		k.PostLogoutRedirectURIs = []string{"http://localhost:8000/logged-out"}
	})
}

func TestHealthyKeycloakShapedSetup(t *testing.T) {
	op := testprovider.New(t, testprovider.Keycloak("demo"))
	registered(op)
	findings, ok, out := run(t, configFor(t, op, nil), doctor.Options{})
	if !ok {
		t.Fatalf("problems reported for a healthy setup:\n%s", out)
	}
	for _, check := range []string{"discovery", "issuer", "clock", "end_session_endpoint", "back-channel logout", "PKCE",
		"client credentials", "redirect URI", "post-logout URI", "cookie secret", "brand"} {
		if f, found := findings[check]; !found || f.Status != doctor.OK {
			t.Errorf("%s: %+v", check, f)
		}
	}
}

func TestBrand(t *testing.T) {
	op := testprovider.New(t)
	registered(op)
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	scalable := write("logo.svg", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8"/></svg>`)
	fixed := write("fixed.svg", `<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>`)
	big := write("big.svg", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><desc>`+strings.Repeat("x", 70<<10)+`</desc></svg>`)
	for _, c := range []struct {
		name   string
		env    map[string]string
		status doctor.Status
		detail string
	}{
		{"default", nil, doctor.OK, `pages are headed "rp", without a logo`},
		{"logo", map[string]string{"RP_BRAND_NAME": "Example Corp", "RP_BRAND_LOGO": scalable}, doctor.OK,
			`pages are headed "Example Corp" with the logo ` + scalable + ` (image/svg+xml, 0.1 KiB) at http://localhost:8000/static/logo`},
		{"no viewBox", map[string]string{"RP_BRAND_LOGO": fixed}, doctor.Warn, "fixed.svg"},
		{"big", map[string]string{"RP_BRAND_LOGO": big}, doctor.Warn, "70.1 KiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			findings, ok, out := run(t, configFor(t, op, c.env), doctor.Options{})
			f := findings["brand"]
			if !ok || f.Status != c.status || !strings.Contains(f.Detail, c.detail) || (c.status != doctor.OK && f.Fix == "") {
				t.Errorf("brand: %+v, want %s with %q\n%s", f, c.status, c.detail, out)
			}
		})
	}
}

func TestCookieSecret(t *testing.T) {
	op := testprovider.New(t)
	registered(op)
	for _, c := range []struct {
		name   string
		env    map[string]string
		status doctor.Status
		detail string
	}{
		{"derived from a long client secret", nil, doctor.OK, "derived from the client secret"},
		{"derived from a short client secret", map[string]string{"RP_CLIENT_SECRET": "short"}, doctor.Warn, "guess the client secret offline"},
		{"RP_COOKIE_SECRET", map[string]string{"RP_CLIENT_SECRET": "short", "RP_COOKIE_SECRET": "hX3kQ9vLmP2wRt7YbN4cZ8sJfG6dA1eU"}, doctor.OK, "sealed with RP_COOKIE_SECRET"},
		{"rotating", map[string]string{"RP_COOKIE_SECRET": "hX3kQ9vLmP2wRt7YbN4cZ8sJfG6dA1eU,Wq5Tz0Rk+yH3nVb8Lm/P2xC7aS9dF4gJ1uE6iO0o"}, doctor.OK, "older secrets"},
	} {
		t.Run(c.name, func(t *testing.T) {
			findings, _, out := run(t, configFor(t, op, c.env), doctor.Options{})
			f := findings["cookie secret"]
			if f.Status != c.status || !strings.Contains(f.Detail, c.detail) || (c.status != doctor.OK && !strings.Contains(f.Fix, "RP_COOKIE_SECRET")) {
				t.Errorf("cookie secret: %+v, want %s with %q\n%s", f, c.status, c.detail, out)
			}
		})
	}
}

func TestProblemsAreFoundWithTheirFix(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(op *testprovider.Provider)
		env     func(op *testprovider.Provider) map[string]string
		now     func() time.Time
		check   string
		wantFix string
	}{
		{name: "provider unreachable", check: "discovery", wantFix: "reachable",
			env: func(*testprovider.Provider) map[string]string {
				return map[string]string{"RP_DISCOVERY_URL": "http://127.0.0.1:1/realms/demo"}
			}},
		{name: "issuer differs only by host", check: "issuer", wantFix: "RP_DISCOVERY_URL",
			env: func(op *testprovider.Provider) map[string]string {
				return map[string]string{"RP_ISSUER": op.DiscoveryURL}
			}},
		{name: "issuer differs by path", check: "issuer", wantFix: "exactly",
			env: func(op *testprovider.Provider) map[string]string {
				return map[string]string{"RP_ISSUER": op.Issuer + "/", "RP_DISCOVERY_URL": op.DiscoveryURL}
			}},
		{name: "wrong client secret", check: "client credentials", wantFix: "RP_CLIENT_SECRET",
			env: func(*testprovider.Provider) map[string]string { return map[string]string{"RP_CLIENT_SECRET": "wrong"} }},
		{name: "redirect URI not registered", check: "redirect URI", wantFix: "Valid redirect URIs",
			setup: func(op *testprovider.Provider) {
				op.Set(func(k *testprovider.Knobs) { k.RedirectURIs = []string{"http://elsewhere/callback"} })
			}},
		{name: "post-logout URI not registered", check: "post-logout URI", wantFix: "Valid post logout redirect URIs",
			setup: func(op *testprovider.Provider) {
				op.Set(func(k *testprovider.Knobs) { k.PostLogoutRedirectURIs = []string{"http://elsewhere/"} })
			}},
		{name: "no end_session_endpoint", check: "end_session_endpoint", wantFix: "RP-Initiated Logout",
			setup: func(op *testprovider.Provider) { op.Set(func(k *testprovider.Knobs) { k.NoEndSession = true }) }},
		{name: "clock skew", check: "clock", wantFix: "NTP",
			now: func() time.Time { return time.Now().Add(5 * time.Minute) }},
		{name: "signing algorithm not offered", check: "signing algorithm", wantFix: "RP_ID_TOKEN_SIGNING_ALG",
			env: func(*testprovider.Provider) map[string]string {
				return map[string]string{"RP_ID_TOKEN_SIGNING_ALG": "ES256"}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op := testprovider.New(t, testprovider.Keycloak("demo"))
			registered(op)
			if tc.setup != nil {
				tc.setup(op)
			}
			var env map[string]string
			if tc.env != nil {
				env = tc.env(op)
			}
			findings, ok, out := run(t, configFor(t, op, env), doctor.Options{Now: tc.now})
			if ok {
				t.Fatalf("no problem reported:\n%s", out)
			}
			f := findings[tc.check]
			if f.Status != doctor.Fail || !strings.Contains(f.Fix, tc.wantFix) {
				t.Fatalf("%s = %+v, want a failure whose fix mentions %q", tc.check, f, tc.wantFix)
			}
		})
	}
}

// TestCodeFirstProviderCannotVerifyTheSecret: where a made-up code gets
// invalid_grant whatever the secret, doctor must not claim the secret is
// right.
func TestCodeFirstProviderCannotVerifyTheSecret(t *testing.T) {
	op := testprovider.New(t, testprovider.Keycloak("demo"))
	registered(op)
	op.Set(func(k *testprovider.Knobs) { k.CodeFirst = true })
	findings, _, _ := run(t, configFor(t, op, map[string]string{"RP_CLIENT_SECRET": "wrong"}), doctor.Options{})
	if f := findings["client credentials"]; f.Status != doctor.Warn || !strings.Contains(f.Detail, "not verified") {
		t.Fatalf("client credentials = %+v, want a warning that the secret is not verified", f)
	}
}

// TestProtectingAnApp: under RP_PATH_PREFIX the URIs doctor checks are the
// prefixed ones, the app behind rp must answer, and refresh tokens and
// revocation are reported.
func TestProtectingAnApp(t *testing.T) {
	op := testprovider.New(t, testprovider.Keycloak("demo"))
	op.Set(func(k *testprovider.Knobs) {
		k.RedirectURIs = []string{"http://localhost:8000/_rp/callback"}
		k.PostLogoutRedirectURIs = []string{"http://localhost:8000/_rp/logged-out"}
	})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusFound) }))
	defer app.Close()
	env := map[string]string{"RP_PATH_PREFIX": "/_rp", "RP_UPSTREAM": app.URL}
	findings, ok, out := run(t, configFor(t, op, env), doctor.Options{})
	if !ok {
		t.Fatalf("problems reported for a healthy setup under a prefix:\n%s", out)
	}
	for _, check := range []string{"redirect URI", "post-logout URI", "upstream", "refresh tokens", "revocation"} {
		if f := findings[check]; f.Status != doctor.OK {
			t.Errorf("%s: %+v", check, f)
		}
	}
	if !strings.Contains(findings["redirect URI"].Detail+out, "/_rp/callback") {
		t.Errorf("the redirect URI checked is not the prefixed one:\n%s", out)
	}

	// The unprefixed URIs are not registered: doctor says so.
	findings, ok, _ = run(t, configFor(t, op, map[string]string{"RP_UPSTREAM": app.URL}), doctor.Options{})
	if ok || findings["redirect URI"].Status != doctor.Fail {
		t.Fatalf("an unregistered unprefixed redirect URI passed: %+v", findings["redirect URI"])
	}

	app.Close()
	op.Set(func(k *testprovider.Knobs) { k.NoOffline, k.NoRevocation = true, true })
	findings, ok, out = run(t, configFor(t, op, env), doctor.Options{})
	if ok || findings["upstream"].Status != doctor.Fail || !strings.Contains(findings["upstream"].Fix, "RP_UPSTREAM") {
		t.Fatalf("an app that does not answer passed:\n%s", out)
	}
	if findings["refresh tokens"].Status != doctor.Warn || findings["revocation"].Status != doctor.Warn {
		t.Errorf("no refresh tokens or revocation not reported:\n%s", out)
	}
}
