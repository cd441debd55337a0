package keycloak

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// upstreamApp is the app rp protects in proxy mode (RP_UPSTREAM): it
// records what each request brought (the access token with
// RP_PASS_ACCESS_TOKEN, the user) and answers 200.
type upstreamApp struct {
	URL  string
	mu   sync.Mutex
	reqs []appHit
}

// appHit is one request the app received.
type appHit struct {
	Path  string
	Token string // from Authorization: Bearer
	User  string // X-Forwarded-User
}

func newUpstreamApp(t testing.TB) *upstreamApp {
	t.Helper()
	a := &upstreamApp{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		a.mu.Lock()
		a.reqs = append(a.reqs, appHit{Path: r.URL.RequestURI(), Token: tok, User: r.Header.Get("X-Forwarded-User")})
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "the app at %s\n", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// hits returns the requests received from the n-th on.
func (a *upstreamApp) hits(from int) []appHit {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]appHit(nil), a.reqs[min(from, len(a.reqs)):]...)
}

func (a *upstreamApp) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.reqs)
}
