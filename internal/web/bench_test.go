package web_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/app"
	"github.com/rp-project/rp/internal/config"
	"github.com/rp-project/rp/internal/session/sessiontest"
	"github.com/rp-project/rp/internal/testprovider"
)

// BenchmarkPage measures what each request costs rp in-process (no network
// between client and rp), on each store, with the idle timeout on and off:
// the home page anonymous and signed in (the same page rendered, so the
// difference is the session), and /profile signed in. It reports the
// store round trips per request; compare ns/op within one run.
//
//	go test ./internal/web -run '^$' -bench Page -benchtime 2s
func BenchmarkPage(b *testing.B) {
	for _, st := range sessiontest.All(b) {
		for _, idle := range []string{"1h", "0"} {
			b.Run(st.Name+"/idle="+idle, func(b *testing.B) {
				a, cookie := benchApp(b, st.New(b), idle)
				for _, kind := range []struct{ name, path string }{
					{"home/anonymous", "/"}, {"home/signed-in", "/"}, {"profile/signed-in", "/profile"},
				} {
					b.Run(kind.name, func(b *testing.B) {
						signedIn := strings.HasSuffix(kind.name, "signed-in")
						want := http.StatusOK
						before := a.Sessions.Stats()
						b.ReportAllocs()
						b.ResetTimer()
						for b.Loop() {
							req := httptest.NewRequest(http.MethodGet, kind.path, nil)
							if signedIn {
								req.AddCookie(cookie)
							}
							w := httptest.NewRecorder()
							a.Handler.ServeHTTP(w, req)
							if w.Code != want {
								b.Fatalf("status %d", w.Code)
							}
						}
						after := a.Sessions.Stats()
						b.ReportMetric(float64(after.Reads-before.Reads)/float64(b.N), "store-reads/op")
						b.ReportMetric(float64(after.Writes-before.Writes)/float64(b.N), "store-writes/op")
					})
				}
			})
		}
	}
}

// benchApp is rp on store in front of a test provider, with one signed-in
// session whose cookie it returns.
func benchApp(b *testing.B, store, idle string) (*app.App, *http.Cookie) {
	return benchAppEnv(b, store, idle, nil)
}

// benchAppEnv is benchApp with more settings; it signs in through
// RP_PATH_PREFIX when one is set.
func benchAppEnv(b *testing.B, store, idle string, extra map[string]string) (*app.App, *http.Cookie) {
	b.Helper()
	op := testprovider.New(b)
	srv := httptest.NewUnstartedServer(nil)
	env := map[string]string{"RP_ISSUER": op.Issuer, "RP_CLIENT_ID": op.ClientID, "RP_CLIENT_SECRET": op.ClientSecret,
		"RP_BASE_URL": "http://" + srv.Listener.Addr().String(), "RP_SESSION_STORE": store, "RP_SESSION_IDLE_TIMEOUT": idle}
	maps.Copy(env, extra)
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	srv.Config.Handler = a.Handler
	srv.Start()
	b.Cleanup(srv.Close)
	if err := a.OIDC.Discover(context.Background()); err != nil {
		b.Fatal(err)
	}
	browser := newBrowserTB(b)
	r, err := browser.Get(srv.URL + env["RP_PATH_PREFIX"] + "/login")
	if err != nil {
		b.Fatal(err)
	}
	r.Body.Close()
	for r.StatusCode/100 == 3 {
		if r, err = browser.Get(r.Request.URL.ResolveReference(mustURL(b, r.Header.Get("Location"))).String()); err != nil {
			b.Fatal(err)
		}
		r.Body.Close()
	}
	for _, c := range browser.Jar.Cookies(r.Request.URL) {
		if c.Name == "rp_session" {
			return a, c
		}
	}
	b.Fatal("no session cookie after sign-in")
	return nil, nil
}

// BenchmarkProxied measures an authenticated proxied request through rp on
// each store against a bare httputil.ReverseProxy with the same kind of
// transport, both to the same upstream on loopback. The difference is what
// rp adds on the path every request of a protected app takes.
//
//	go test ./internal/web -run '^$' -bench Proxied -benchtime 2s
func BenchmarkProxied(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello from the app"))
	}))
	b.Cleanup(upstream.Close)
	run := func(b *testing.B, h http.Handler, cookie *http.Cookie) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodGet, "/app/page?x=1", nil)
			req.Header.Set("Accept", "text/html")
			if cookie != nil {
				req.AddCookie(cookie)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	}
	b.Run("bare", func(b *testing.B) {
		u := mustURL(b, upstream.URL)
		rp := &httputil.ReverseProxy{
			Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() },
			Transport: &http.Transport{MaxIdleConnsPerHost: 512},
		}
		run(b, rp, nil)
	})
	for _, st := range sessiontest.All(b) {
		b.Run(st.Name, func(b *testing.B) {
			a, cookie := benchAppEnv(b, st.New(b), "1h", map[string]string{"RP_UPSTREAM": upstream.URL, "RP_PATH_PREFIX": "/_rp"})
			before := a.Sessions.Stats()
			run(b, a.Handler, cookie)
			after := a.Sessions.Stats()
			b.ReportMetric(float64(after.Reads-before.Reads)/float64(b.N), "store-reads/op")
			b.ReportMetric(float64(after.Writes-before.Writes)/float64(b.N), "store-writes/op")
		})
	}
}
