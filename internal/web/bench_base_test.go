package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/rp-project/rp/internal/app"
	"github.com/rp-project/rp/internal/config"
	"github.com/rp-project/rp/internal/testprovider"
)

func BenchmarkBaseline(b *testing.B) {
	for _, idle := range []string{"1h", "0"} {
		op := testprovider.New(b)
		srv := httptest.NewUnstartedServer(nil)
		env := map[string]string{"RP_ISSUER": op.Issuer, "RP_CLIENT_ID": op.ClientID, "RP_CLIENT_SECRET": op.ClientSecret,
			"RP_BASE_URL": "http://" + srv.Listener.Addr().String(), "RP_SESSION_STORE": "sqlite:" + filepath.Join(b.TempDir(), "s.db"), "RP_SESSION_IDLE_TIMEOUT": idle}
		cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		a, _ := app.New(context.Background(), cfg, app.Options{})
		defer a.Close()
		srv.Config.Handler = a.Handler
		srv.Start()
		defer srv.Close()
		a.OIDC.Discover(context.Background())
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		r, err := c.Get(srv.URL + "/profile")
		if err != nil || r.StatusCode != 200 {
			b.Fatal(err, r.StatusCode)
		}
		var ck *http.Cookie
		for _, k := range r.Request.Cookies() {
			ck = k
		}
		for _, name := range []string{"anonymous", "authenticated"} {
			b.Run("idle="+idle+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest("GET", "/profile", nil)
					if name == "authenticated" {
						req.AddCookie(ck)
					}
					w := httptest.NewRecorder()
					a.Handler.ServeHTTP(w, req)
					if (name == "authenticated") != (w.Code == 200) {
						b.Fatal(w.Code)
					}
				}
			})
		}
	}
}
