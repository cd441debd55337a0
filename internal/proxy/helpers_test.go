package proxy

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// seen is what the echo upstream reports about the request it got.
type seen struct {
	Host   string
	URI    string
	Header http.Header
}

// echoUpstream starts an app that answers every request with what it saw.
func echoUpstream(tb testing.TB) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(seen{Host: r.Host, URI: r.RequestURI, Header: r.Header})
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func mustURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// serveRecorded runs Serve on req with a recorder and decodes what the echo
// upstream saw.
func serveRecorded(t *testing.T, u *Upstream, req *http.Request, id Identity) (seen, *httptest.ResponseRecorder) {
	t.Helper()
	rec := httptest.NewRecorder()
	u.Serve(rec, req, id)
	var s seen
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, body %q", rec.Code, rec.Body.String())
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		t.Fatalf("decoding the upstream's answer %q: %v", rec.Body.String(), err)
	}
	return s, rec
}

// frontServer serves every request through u with id, as rp's proxy mode
// does for a signed-in user.
func frontServer(tb testing.TB, u *Upstream, id Identity, configure func(*http.Server)) *httptest.Server {
	tb.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.Serve(w, r, id)
	}))
	if configure != nil {
		configure(srv.Config)
	}
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv
}

// rawExchange sends head (a request without the final blank line, lines
// separated by "\n") on a new connection to addr, exactly as written, and
// reads the response.
func rawExchange(t *testing.T, addr, head string) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	wire := strings.ReplaceAll(strings.TrimSpace(head), "\n", "\r\n") + "\r\n\r\n"
	if _, err := conn.Write([]byte(wire)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res, conn, br
}

// headerSpellings returns the values of every header in h that reads as
// name to sameHeaderName (any case, any punctuation for '-'), by spelling.
func headerSpellings(h http.Header, name string) map[string][]string {
	out := map[string][]string{}
	for k, v := range h {
		if sameHeaderName(k, name) {
			out[k] = v
		}
	}
	return out
}

// closedAddr returns a loopback address nobody listens on.
func closedAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
