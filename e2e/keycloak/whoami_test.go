package keycloak

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// serveWhoami answers on ln like traefik/whoami, the compose file's demo
// app: a few lines about itself, then the request as it arrived (request
// line and headers), as text. It serves until the test ends.
func serveWhoami(t testing.TB, name string, ln net.Listener) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "Hostname:", name)
		fmt.Fprintln(w, "IP:", "127.0.0.1")
		fmt.Fprintln(w, "RemoteAddr:", r.RemoteAddr)
		r.Header.Del("Content-Length")
		if err := r.Write(w); err != nil {
			fmt.Fprintln(w, "error:", err)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// whoamiPage is what whoami says it was told.
type whoamiPage struct {
	RequestLine string // "GET /admin HTTP/1.1"
	Header      http.Header
}

// parseWhoami reads whoami's answer; ok is false when body is not one
// (rp's or nginx's own page, Keycloak's, ...).
func parseWhoami(body string) (w whoamiPage, ok bool) {
	_, req, found := strings.Cut(body, "\nRemoteAddr: ")
	if !found || !strings.HasPrefix(body, "Hostname: ") {
		return whoamiPage{}, false
	}
	_, req, _ = strings.Cut(req, "\n")
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(req)))
	if err != nil {
		return whoamiPage{}, false
	}
	w.RequestLine = strings.TrimRight(strings.SplitN(req, "\n", 2)[0], "\r")
	w.Header = r.Header
	return w, true
}
