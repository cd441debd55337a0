package keycloak

import (
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/rp-project/rp/internal/app/apptest"
	"github.com/rp-project/rp/internal/session"
)

// startReplica serves another instance of the rp that env configures, on
// ln, as a second replica behind a load balancer: the same settings (its
// RP_BASE_URL included), its own address. The returned instance's Base is
// that address: a browser's cookie jar sends it the same cookie, since
// cookies ignore ports. name tells its log lines apart.
func startReplica(t testing.TB, ln net.Listener, env map[string]string, name string) *rpInstance {
	t.Helper()
	env = maps.Clone(env)
	env["RP_ADDR"] = ln.Addr().String()
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("instance", name)
	a := apptest.Serve(t, ln, env, logger)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rp %s log:\n%s", name, logs.String())
		}
	})
	u, _ := url.Parse(env["RP_BASE_URL"])
	port := ln.Addr().(*net.TCPAddr).Port
	r := &rpInstance{
		Base:   "http://localhost:" + strconv.Itoa(port) + env["RP_PATH_PREFIX"],
		Origin: u.Scheme + "://" + u.Host,
		Cookie: a.Config.SessionCookieName,
		App:    a, Log: logs,
	}
	r.waitReady(t)
	return r
}

// storedSession reads, through r's session manager, the session that b's
// cookie names, from r's store: the login and the provider's tokens rp
// holds for it; ok is false when the store has no signed-in session for
// the cookie.
func storedSession(t testing.TB, r *rpInstance, b *browser) (l session.Login, tok session.Tokens, ok bool) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, r.Base+"/", nil)
	if c := b.Cookie(r.Base+"/", r.Cookie); c != "" {
		req.AddCookie(&http.Cookie{Name: r.Cookie, Value: c})
	}
	loaded, err := r.App.Sessions.Load(req)
	if err != nil {
		t.Fatalf("loading the session from rp's store: %v", err)
	}
	ctx := loaded.Context()
	l, ok = r.App.Sessions.Login(ctx)
	if !ok {
		return l, tok, false
	}
	tok, ok, err = r.App.Sessions.Tokens(ctx)
	if err != nil {
		t.Fatalf("reading the session's tokens from rp's store: %v", err)
	}
	return l, tok, ok
}
