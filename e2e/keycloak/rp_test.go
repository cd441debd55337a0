package keycloak

import (
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/app"
	"github.com/rp-project/rp/internal/app/apptest"
)

// rpInstance is one rp serving in-process on loopback.
type rpInstance struct {
	Base   string // RP_BASE_URL + RP_PATH_PREFIX: where its routes are
	Origin string // RP_BASE_URL's origin
	Cookie string // its session cookie's name
	App    *app.App
	Log    *lockedBuffer
}

// listen reserves rp's address: Keycloak must know the redirect URI before
// rp starts. rp is reached as localhost, the host its cookies belong to.
func listen(t testing.TB) (net.Listener, string) {
	t.Helper()
	return apptest.Listen(t, "localhost")
}

// rpEnv is the settings of an rp at base for client c of k: SQLite
// sessions in the test's directory, debug logs, a 10 s provider timeout.
func (k *keycloak) rpEnv(t testing.TB, c client, base string) map[string]string {
	t.Helper()
	return map[string]string{
		"RP_ISSUER":           k.Issuer(c.Realm),
		"RP_CLIENT_ID":        c.ClientID,
		"RP_CLIENT_SECRET":    c.Secret,
		"RP_BASE_URL":         base,
		"RP_SESSION_STORE":    "sqlite:" + filepath.Join(t.TempDir(), "sessions.db"),
		"RP_PROVIDER_TIMEOUT": "10s",
		"RP_LOG_LEVEL":        "debug",
	}
}

// startRP serves rp with env on ln until the test ends, once it has
// loaded Keycloak's metadata; its log is shown if the test fails.
func startRP(t testing.TB, ln net.Listener, env map[string]string) *rpInstance {
	t.Helper()
	env = maps.Clone(env)
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := apptest.Serve(t, ln, env, logger)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rp %s log:\n%s", env["RP_BASE_URL"], logs.String())
		}
	})
	u, _ := url.Parse(env["RP_BASE_URL"])
	r := &rpInstance{
		Base:   strings.TrimSuffix(env["RP_BASE_URL"], "/") + env["RP_PATH_PREFIX"],
		Origin: u.Scheme + "://" + u.Host,
		Cookie: a.Config.SessionCookieName,
		App:    a, Log: logs,
	}
	r.waitReady(t)
	return r
}

func (r *rpInstance) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(r.Base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rp at %s: /readyz not 200 within a minute (%v)", r.Base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SignIn walks b through a full sign-in at r as u: rp's /login, Keycloak's
// login form, rp's callback. It fails unless Keycloak asked for the
// password (no SSO session yet) and rp ended on one of its pages with a
// session cookie. It returns the page the sign-in ends on.
func (r *rpInstance) SignIn(t testing.TB, b *browser, u user) page {
	t.Helper()
	p := b.Get(t, r.Base+"/login")
	if !p.IsRedirect() {
		t.Fatalf("%s: want a redirect to Keycloak; body:\n%s", p, p.Body)
	}
	p = b.Last(t, p)
	if _, ok := loginForm(p); !ok {
		t.Fatalf("sign-in: %s is not Keycloak's login form:\n%s", p, p.Body)
	}
	p = b.LogIn(t, p, u)
	if !p.IsRedirect() {
		t.Fatalf("Keycloak refused %s's password: %s\n%s", u.Username, p, p.Body)
	}
	cb := p.Location(t)
	if !strings.HasPrefix(cb.String(), r.Base+"/callback?") {
		t.Fatalf("Keycloak redirected to %s, want %s/callback", cb, r.Base)
	}
	p = b.Last(t, p)
	if p.Status != http.StatusOK {
		t.Fatalf("sign-in ended on %s:\n%s", p, p.Body)
	}
	if b.Cookie(r.Base+"/", r.Cookie) == "" {
		t.Fatalf("sign-in: no %s cookie after the callback", r.Cookie)
	}
	return p
}
