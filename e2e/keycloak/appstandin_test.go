package keycloak

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// appStandIn stands for the app rp protects in proxy mode (RP_UPSTREAM):
// it answers every request 200 with a page showing the request's path and
// headers as it got them (see appSaw), and records them.
type appStandIn struct {
	URL string

	mu   sync.Mutex
	seen []appRequest
}

// appRequest is one request as the app got it.
type appRequest struct {
	Path   string
	Header http.Header
}

func newAppStandIn(t testing.TB) *appStandIn {
	t.Helper()
	a := &appStandIn{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen = append(a.seen, appRequest{Path: r.URL.Path, Header: r.Header.Clone()})
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "the app at %s, with\n", r.URL.Path)
		r.Header.Write(w)
	}))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// appSaw reads the app's page p: the path and the headers the app got,
// failing the test when p is not the app's page for path.
func appSaw(t testing.TB, p page, path string) appRequest {
	t.Helper()
	first, rest, _ := strings.Cut(p.Body, "\n")
	if p.Status != http.StatusOK || first != "the app at "+path+", with" {
		t.Fatalf("%s: want the app's page for %s, got:\n%.600s", p, path, p.Body)
	}
	h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(rest + "\r\n"))).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("%s: the app's page: %v", p, err)
	}
	return appRequest{Path: path, Header: http.Header(h)}
}

// For is every request the app got with user (a sub) in X-Forwarded-User.
func (a *appStandIn) For(user string) []appRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []appRequest
	for _, r := range a.seen {
		if r.Header.Get("X-Forwarded-User") == user {
			out = append(out, r)
		}
	}
	return out
}
