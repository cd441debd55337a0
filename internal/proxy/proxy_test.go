package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// alice is a signed-in user as the caller would pass her.
func alice() Identity {
	return Identity{
		User:              "sub-alice",
		Email:             "alice@example.com",
		PreferredUsername: "alice",
		Groups:            []string{"staff", "/admins"},
	}
}

func TestServeSendsIdentityAndUpstreamHost(t *testing.T) {
	up := echoUpstream(t)
	u := New(Options{URL: mustURL(t, up.URL+"/base"), Proto: "https", CookieName: "rp_session"})

	req := httptest.NewRequest("GET", "http://app.example.com/reports/q1?year=2025", nil)
	req.RemoteAddr = "203.0.113.9:51000"
	s, _ := serveRecorded(t, u, req, alice())

	want := map[string]string{
		HeaderUser:              "sub-alice",
		HeaderEmail:             "alice@example.com",
		HeaderPreferredUsername: "alice",
		HeaderGroups:            "staff,/admins",
		"X-Forwarded-Host":      "app.example.com",
		"X-Forwarded-Proto":     "https",
		"X-Forwarded-For":       "203.0.113.9",
	}
	for k, v := range want {
		if got := s.Header[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%q]", k, got, v)
		}
	}
	if got := s.Header["Authorization"]; got != nil {
		t.Errorf("Authorization = %q without a token", got)
	}
	if s.Host != strings.TrimPrefix(up.URL, "http://") {
		t.Errorf("upstream Host = %q, want its own %q", s.Host, up.URL)
	}
	if s.URI != "/base/reports/q1?year=2025" {
		t.Errorf("upstream URI = %q", s.URI)
	}
}

// spoofHead is a request carrying every spelling of the identity headers a
// client could try, with values containing "evil".
const spoofHead = `GET /page HTTP/1.1
Host: app.example.com
x-forwarded-user: evil-lower
X-FORWARDED-USER: evil-upper
X_Forwarded_User: evil-underscore
X-Forwarded-User: evil-dup-1
X-Forwarded-User: evil-dup-2
x_forwarded_email: evil@evil.example
X-Forwarded-Email: evil2@evil.example
X-Forwarded-Preferred-Username: evil-name
x-forwarded_preferred-username: evil-mixed
X-Forwarded-Groups: admins
X-Forwarded-Groups: evil-group
X_FORWARDED_GROUPS: admins`

func TestServeRemovesSpoofedIdentityHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   Identity
	}{
		{"signed in", alice()},
		{"no identity", Identity{}},
		{"only sub", Identity{User: "sub-bob"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := echoUpstream(t)
			u := New(Options{URL: mustURL(t, up.URL), Proto: "http"})
			front := frontServer(t, u, tc.id, nil)

			res, _, _ := rawExchange(t, front.Listener.Addr().String(), spoofHead+"\nConnection: close")
			defer res.Body.Close()
			var s seen
			if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
				t.Fatal(err)
			}
			for k, vs := range s.Header {
				for _, v := range vs {
					if strings.Contains(v, "evil") {
						t.Errorf("spoofed header reached the upstream: %s: %s", k, v)
					}
				}
			}
			check := func(name, want string) {
				t.Helper()
				got := headerSpellings(s.Header, name)
				switch {
				case want == "" && len(got) > 0:
					t.Errorf("%s: got %q, want none", name, got)
				case want != "" && (len(got) != 1 || !slices.Equal(got[name], []string{want})):
					t.Errorf("%s: got %q, want only %q", name, got, want)
				}
			}
			check(HeaderUser, tc.id.User)
			check(HeaderEmail, tc.id.Email)
			check(HeaderPreferredUsername, tc.id.PreferredUsername)
			check(HeaderGroups, strings.Join(tc.id.Groups, ","))
		})
	}
}

func TestServeAuthorization(t *testing.T) {
	up := echoUpstream(t)
	u := New(Options{URL: mustURL(t, up.URL)})
	head := `GET / HTTP/1.1
Host: app.example.com
Authorization: Basic Y2xpZW50OnNlY3JldA==
AUTHORIZATION: Bearer client-1
Connection: close`

	for _, tc := range []struct {
		name  string
		token string
		want  []string
	}{
		{"token replaces the client's", "at-123", []string{"Bearer at-123"}},
		{"no token keeps the client's", "", []string{"Basic Y2xpZW50OnNlY3JldA==", "Bearer client-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := alice()
			id.AccessToken = tc.token
			front := frontServer(t, u, id, nil)
			res, _, _ := rawExchange(t, front.Listener.Addr().String(), head)
			defer res.Body.Close()
			var s seen
			if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
				t.Fatal(err)
			}
			got := headerSpellings(s.Header, "Authorization")
			if len(got) != 1 || !slices.Equal(got["Authorization"], tc.want) {
				t.Errorf("Authorization at the upstream = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestServeConnectionListedHeaders checks that naming headers in Connection
// (which makes them hop-by-hop, removed before forwarding) cannot remove
// what rp sets, nor smuggle what rp removes.
func TestServeConnectionListedHeaders(t *testing.T) {
	up := echoUpstream(t)
	u := New(Options{URL: mustURL(t, up.URL), Proto: "https", CookieName: "rp_session"})
	id := alice()
	id.AccessToken = "at-123"

	for _, tc := range []struct {
		name       string
		connection string
		check      func(t *testing.T, h http.Header)
	}{
		{"X-Forwarded-User", "X-Forwarded-User", func(t *testing.T, h http.Header) {
			if got := h[HeaderUser]; !slices.Equal(got, []string{"sub-alice"}) {
				t.Errorf("%s = %q", HeaderUser, got)
			}
		}},
		{"all identity headers", "X-Forwarded-User, X-Forwarded-Email, X-Forwarded-Groups, X-Forwarded-Preferred-Username", func(t *testing.T, h http.Header) {
			for k, v := range map[string]string{HeaderUser: "sub-alice", HeaderEmail: "alice@example.com", HeaderGroups: "staff,/admins", HeaderPreferredUsername: "alice"} {
				if got := h[k]; !slices.Equal(got, []string{v}) {
					t.Errorf("%s = %q", k, got)
				}
			}
		}},
		{"Authorization", "Authorization", func(t *testing.T, h http.Header) {
			if got := h["Authorization"]; !slices.Equal(got, []string{"Bearer at-123"}) {
				t.Errorf("Authorization = %q", got)
			}
		}},
		{"Cookie", "Cookie", func(t *testing.T, h http.Header) {
			if got := h["Cookie"]; strings.Contains(strings.Join(got, ";"), "rp_session") {
				t.Errorf("Cookie = %q", got)
			}
		}},
		{"X-Forwarded-For and -Host and -Proto", "X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto", func(t *testing.T, h http.Header) {
			want := map[string]string{"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Proto": "https"}
			for k, v := range want {
				if got := h[k]; !slices.Equal(got, []string{v}) {
					t.Errorf("%s = %q, want [%q]", k, got, v)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://app.example.com/x", nil)
			req.RemoteAddr = "198.51.100.7:4000"
			req.Header.Set("Connection", tc.connection)
			req.Header.Set(HeaderUser, "evil")
			req.Header.Set("Authorization", "Bearer evil")
			req.Header.Set("Cookie", "rp_session=secret; theme=dark")
			req.Header.Set("X-Forwarded-For", "10.9.9.9")
			req.Header.Set("X-Forwarded-Host", "evil.example")
			req.Header.Set("X-Forwarded-Proto", "http")
			s, _ := serveRecorded(t, u, req, id)
			tc.check(t, s.Header)
			for k, vs := range s.Header {
				for _, v := range vs {
					if strings.Contains(v, "evil") || strings.Contains(v, "secret") || v == "10.9.9.9" {
						t.Errorf("client value reached the upstream: %s: %s", k, v)
					}
				}
			}
		})
	}
}

func TestServeRemovesSessionCookie(t *testing.T) {
	up := echoUpstream(t)
	u := New(Options{URL: mustURL(t, up.URL), CookieName: "rp_session"})
	for _, tc := range []struct {
		name  string
		lines []string
		want  []string
	}{
		{"one line", []string{"a=1; rp_session=abc; b=2"}, []string{"a=1; b=2"}},
		{"only rp's", []string{"rp_session=abc"}, nil},
		{"several lines", []string{"z=0", "rp_session=abc", "a=1;RP_SESSION=def; c=3", "d=4"}, []string{"z=0", "a=1; c=3", "d=4"}},
		{"no rp cookie", []string{"a=1;b=2", "c=3"}, []string{"a=1;b=2", "c=3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Through a real server and transport: several Cookie lines
			// travel as several lines.
			front := frontServer(t, u, alice(), nil)
			head := "GET / HTTP/1.1\nHost: app.example.com\nConnection: close"
			for _, l := range tc.lines {
				head += "\nCookie: " + l
			}
			res, _, _ := rawExchange(t, front.Listener.Addr().String(), head)
			defer res.Body.Close()
			var s seen
			if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
				t.Fatal(err)
			}
			if got := s.Header["Cookie"]; !slices.Equal(got, tc.want) {
				t.Errorf("Cookie at the upstream = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestServeDropsSessionSetCookie(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "app=1; Path=/")
		w.Header().Add("Set-Cookie", "rp_session=evil; Path=/; HttpOnly")
		w.Header().Add("Set-Cookie", "RP_Session=; Max-Age=0")
		w.Header().Add("Set-Cookie", " rp_session =x")
		w.Header().Add("Set-Cookie", "rp_session_other=2")
		w.Header().Add("Set-Cookie", "rp_session_signin_ABC=planted; Path=/") // a sign-in in flight
		w.Header().Add("Set-Cookie", "rp_sessionx=3")
	}))
	defer up.Close()
	u := New(Options{URL: mustURL(t, up.URL), CookieName: "rp_session"})
	rec := httptest.NewRecorder()
	u.Serve(rec, httptest.NewRequest("GET", "/", nil), alice())
	want := []string{"app=1; Path=/", "rp_sessionx=3"}
	if got := rec.Result().Header["Set-Cookie"]; !slices.Equal(got, want) {
		t.Errorf("Set-Cookie at the client = %q, want %q", got, want)
	}
}

func TestServeForwardedHeaders(t *testing.T) {
	up := echoUpstream(t)
	trusted, err := ParseTrusted("10.0.0.0/8, 2001:db8::1")
	if err != nil {
		t.Fatal(err)
	}
	u := New(Options{URL: mustURL(t, up.URL), Proto: "https", Trusted: trusted})

	for _, tc := range []struct {
		name       string
		remoteAddr string
		in         map[string][]string
		want       map[string]string
		absent     []string
	}{
		{
			name:       "untrusted peer: all replaced",
			remoteAddr: "198.51.100.7:4000",
			in: map[string][]string{
				"X-Forwarded-For":   {"1.2.3.4"},
				"X-Forwarded-Host":  {"evil.example"},
				"X-Forwarded-Proto": {"http"},
				"Forwarded":         {"for=1.2.3.4;host=evil.example"},
				"X_forwarded_host":  {"evil.example"},
				"X_forwarded_proto": {"http"},
			},
			want:   map[string]string{"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Proto": "https"},
			absent: []string{"Forwarded", "X_forwarded_host", "X_forwarded_proto"},
		},
		{
			name:       "trusted peer: kept, For appended",
			remoteAddr: "10.1.2.3:4000",
			in: map[string][]string{
				"X-Forwarded-For":   {"1.2.3.4, 5.6.7.8", "9.9.9.9"},
				"X-Forwarded-Host":  {"public.example.com:8443"},
				"X-Forwarded-Proto": {"HTTP"},
				"Forwarded":         {"for=1.2.3.4"},
			},
			want:   map[string]string{"X-Forwarded-For": "1.2.3.4, 5.6.7.8, 9.9.9.9, 10.1.2.3", "X-Forwarded-Host": "public.example.com:8443", "X-Forwarded-Proto": "http"},
			absent: []string{"Forwarded"},
		},
		{
			name:       "trusted IPv4-mapped peer",
			remoteAddr: "[::ffff:10.1.2.3]:4000",
			in:         map[string][]string{"X-Forwarded-For": {"1.2.3.4"}, "X-Forwarded-Host": {"public.example.com"}},
			want:       map[string]string{"X-Forwarded-For": "1.2.3.4, ::ffff:10.1.2.3", "X-Forwarded-Host": "public.example.com", "X-Forwarded-Proto": "https"},
		},
		{
			name:       "trusted IPv6 peer",
			remoteAddr: "[2001:db8::1]:4000",
			in:         map[string][]string{"X-Forwarded-Proto": {"http"}},
			want:       map[string]string{"X-Forwarded-For": "2001:db8::1", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Proto": "http"},
		},
		{
			name:       "trusted peer with repeated or bad Host and Proto: rp's own",
			remoteAddr: "10.1.2.3:4000",
			in: map[string][]string{
				"X-Forwarded-Host":  {"a.example", "b.example"},
				"X-Forwarded-Proto": {"gopher"},
			},
			want: map[string]string{"X-Forwarded-For": "10.1.2.3", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Proto": "https"},
		},
		{
			name:       "trusted peer with a comma list in Host",
			remoteAddr: "10.1.2.3:4000",
			in:         map[string][]string{"X-Forwarded-Host": {"a.example, b.example"}},
			want:       map[string]string{"X-Forwarded-Host": "app.example.com"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://app.example.com/x", nil)
			req.RemoteAddr = tc.remoteAddr
			for k, v := range tc.in {
				req.Header[k] = v
			}
			s, _ := serveRecorded(t, u, req, alice())
			for k, v := range tc.want {
				if got := s.Header[k]; !slices.Equal(got, []string{v}) {
					t.Errorf("%s = %q, want [%q]", k, got, v)
				}
			}
			for _, k := range tc.absent {
				if got, ok := s.Header[k]; ok {
					t.Errorf("%s = %q, want none", k, got)
				}
			}
		})
	}
}

// errorRecorder records calls of Options.Error.
type errorRecorder struct {
	mu    sync.Mutex
	calls []errorCall
}

type errorCall struct {
	status int
	path   string
	err    error
}

func (e *errorRecorder) write(w http.ResponseWriter, r *http.Request, status int, err error) {
	e.mu.Lock()
	e.calls = append(e.calls, errorCall{status, r.URL.Path, err})
	e.mu.Unlock()
	w.WriteHeader(status)
	io.WriteString(w, "rp error page")
}

func (e *errorRecorder) get() []errorCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

func TestServeUpstreamDown(t *testing.T) {
	var errs errorRecorder
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	u := New(Options{URL: mustURL(t, "http://"+closedAddr(t)), Error: errs.write, Logger: logger})
	rec := httptest.NewRecorder()
	u.Serve(rec, httptest.NewRequest("GET", "/some/page?token=secret", nil), alice())
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "status=502") ||
		!strings.Contains(l, "path=/some/page") || strings.Contains(l, "secret") {
		t.Errorf("log %q: want a WARN with status and path, never the query", l)
	}
	if rec.Code != http.StatusBadGateway || rec.Body.String() != "rp error page" {
		t.Errorf("client got %d %q, want 502 and rp's page", rec.Code, rec.Body.String())
	}
	calls := errs.get()
	if len(calls) != 1 || calls[0].status != http.StatusBadGateway || calls[0].err == nil {
		t.Fatalf("Error calls = %+v, want one with 502", calls)
	}
	if calls[0].path != "/some/page" {
		t.Errorf("Error got path %q, want the inbound request's", calls[0].path)
	}
}

func TestServeUpstreamResetIsBadGateway(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer up.Close()
	var errs errorRecorder
	u := New(Options{URL: mustURL(t, up.URL), Error: errs.write})
	rec := httptest.NewRecorder()
	u.Serve(rec, httptest.NewRequest("GET", "/", nil), alice())
	if calls := errs.get(); len(calls) != 1 || calls[0].status != http.StatusBadGateway || rec.Code != http.StatusBadGateway {
		t.Errorf("Error calls = %+v, client status %d; want one 502", calls, rec.Code)
	}
}

func TestServeUpstreamTimeout(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	var errs errorRecorder
	u := New(Options{URL: mustURL(t, up.URL), Timeout: 200 * time.Millisecond, Error: errs.write})
	rec := httptest.NewRecorder()
	start := time.Now()
	u.Serve(rec, httptest.NewRequest("GET", "/slow", nil), alice())
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v, want about the 200ms timeout", took)
	}
	calls := errs.get()
	if len(calls) != 1 || calls[0].status != http.StatusGatewayTimeout || rec.Code != http.StatusGatewayTimeout {
		t.Errorf("Error calls = %+v, client status %d; want one 504", calls, rec.Code)
	}
}

func TestServeClientGoneCallsNoError(t *testing.T) {
	arrived := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	}))
	defer up.Close()
	var errs errorRecorder
	u := New(Options{URL: mustURL(t, up.URL), Error: errs.write})

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	rec := httptest.NewRecorder()
	u.Serve(rec, httptest.NewRequest("GET", "/", nil).WithContext(ctx), alice())
	if calls := errs.get(); len(calls) != 0 {
		t.Errorf("Error called for a client that went away: %+v", calls)
	}
}

func TestServeWithoutErrorFuncWritesPlainStatus(t *testing.T) {
	u := New(Options{URL: mustURL(t, "http://"+closedAddr(t))})
	rec := httptest.NewRecorder()
	u.Serve(rec, httptest.NewRequest("GET", "/", nil), alice())
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "Bad Gateway") {
		t.Errorf("got %d %q", rec.Code, rec.Body.String())
	}
}

func TestDefaultTransport(t *testing.T) {
	u := New(Options{URL: mustURL(t, "http://app.internal"), Timeout: 42 * time.Second})
	tr, ok := u.Transport().(*http.Transport)
	if !ok {
		t.Fatalf("Transport() is %T", u.Transport())
	}
	if tr.Proxy != nil || tr.MaxIdleConnsPerHost != 512 || tr.MaxIdleConns != 0 || tr.MaxConnsPerHost != 0 ||
		tr.ResponseHeaderTimeout != 42*time.Second || !tr.DisableCompression || tr.ForceAttemptHTTP2 ||
		tr.IdleConnTimeout != 90*time.Second || tr.TLSHandshakeTimeout != 10*time.Second || tr.ExpectContinueTimeout != time.Second {
		t.Errorf("default transport not tuned as documented: %+v", tr)
	}
}

// TestServeIgnoresEnvironmentProxy checks that HTTP_PROXY cannot send the
// user's identity to another host.
func TestServeIgnoresEnvironmentProxy(t *testing.T) {
	var hits atomic.Int32
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer trap.Close()
	t.Setenv("HTTP_PROXY", trap.URL)
	t.Setenv("http_proxy", trap.URL)
	t.Setenv("NO_PROXY", "")
	up := echoUpstream(t)
	// A non-loopback name would be needed for Go to consult the proxy at
	// all; the transport must not even have a Proxy func.
	u := New(Options{URL: mustURL(t, up.URL)})
	serveRecorded(t, u, httptest.NewRequest("GET", "/", nil), alice())
	if hits.Load() != 0 || u.Transport().(*http.Transport).Proxy != nil {
		t.Error("the environment's proxy was used")
	}
}

// TestServeReusesConnections checks that rounds of concurrent requests
// reuse the idle connections of the round before instead of dialing anew,
// as Go's default of 2 idle connections per host would.
func TestServeReusesConnections(t *testing.T) {
	var dialed atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(10 * time.Millisecond)
		io.WriteString(w, "ok")
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialed.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	u := New(Options{URL: mustURL(t, up.URL)})
	const concurrent, rounds = 32, 4
	for range rounds {
		var wg sync.WaitGroup
		for range concurrent {
			wg.Go(func() {
				rec := httptest.NewRecorder()
				u.Serve(rec, httptest.NewRequest("GET", "/", nil), alice())
				if rec.Code != http.StatusOK {
					t.Errorf("status %d", rec.Code)
				}
			})
		}
		wg.Wait()
	}
	if n := dialed.Load(); n > concurrent+concurrent/2 {
		t.Errorf("%d connections for %d rounds of %d requests; idle ones were not reused", n, rounds, concurrent)
	}
}

// TestServeStripsIdentityTrailers sends the identity header names as
// request trailers, which an app might merge into its headers.
func TestServeStripsIdentityTrailers(t *testing.T) {
	got := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.Trailer
	}))
	defer up.Close()
	u := New(Options{URL: mustURL(t, up.URL), CookieName: "rp_session"})
	front := frontServer(t, u, alice(), nil)
	res, _, _ := rawExchange(t, front.Listener.Addr().String(), "POST / HTTP/1.1\nHost: app.example.com\n"+
		"Transfer-Encoding: chunked\nTrailer: X-Forwarded-User, X_Forwarded_Email, Authorization, Cookie, X-App\nConnection: close\n\n"+
		"5\nhello\n0\nX-Forwarded-User: evil\nX_Forwarded_Email: evil@evil.example\nAuthorization: Bearer evil\nCookie: rp_session=secret\nX-App: kept")
	res.Body.Close()
	// Go's ReverseProxy forwards the declared names with empty values
	// (it clones the trailer before the body is read); the names must
	// not reach the upstream either, whatever a later Go does.
	tr := <-got
	for k, vs := range tr {
		if isIdentityHeader(k) || sameHeaderName(k, "Authorization") || sameHeaderName(k, "Cookie") || slices.ContainsFunc(vs, func(v string) bool {
			return strings.Contains(v, "evil") || strings.Contains(v, "secret")
		}) {
			t.Errorf("trailer reached the upstream: %s: %q", k, vs)
		}
	}
	if _, ok := tr["X-App"]; !ok {
		t.Errorf("the app's own trailer was removed: %q", tr)
	}
}

// TestServePassAccessTokenAlwaysStripsAuthorization: with PassAccessToken,
// a request that has no token to send (it could not be read) does not
// pass the client's own Authorization on either.
func TestServePassAccessTokenAlwaysStripsAuthorization(t *testing.T) {
	up := echoUpstream(t)
	u := New(Options{URL: mustURL(t, up.URL), PassAccessToken: true})
	front := frontServer(t, u, alice(), nil)
	res, _, _ := rawExchange(t, front.Listener.Addr().String(), "GET / HTTP/1.1\nHost: a\nAuthorization: Bearer forged\nX_Authorization: x\nConnection: close")
	defer res.Body.Close()
	var s seen
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if got := headerSpellings(s.Header, "Authorization"); len(got) != 0 {
		t.Fatalf("the client's Authorization reached the app: %q", got)
	}
}

// TestServeForwardingHeadersFromUntrustedPeers: what proxies tell apps
// about the original request, beyond For/Host/Proto, passes only from a
// trusted proxy; X-Forwarded-Host is rp's public host, never the client's
// Host.
func TestServeForwardingHeadersFromUntrustedPeers(t *testing.T) {
	up := echoUpstream(t)
	u := New(Options{URL: mustURL(t, up.URL), Proto: "https", Host: "app.example.com"})
	front := frontServer(t, u, alice(), nil)
	res, _, _ := rawExchange(t, front.Listener.Addr().String(), "GET / HTTP/1.1\nHost: evil.example\n"+
		"X-Forwarded-Port: 1\nX-Forwarded-Prefix: /evil\nX-Forwarded-Ssl: on\nX-Forwarded-Scheme: https\n"+
		"X-Forwarded-Server: evil\nX-Real-IP: 6.6.6.6\nTrue-Client-IP: 6.6.6.6\nX-Client-IP: 6.6.6.6\n"+
		"X-Original-URL: /admin\nX-Rewrite-URL: /admin\nFront-End-Https: on\nX_Real_IP: 6.6.6.6\nConnection: close")
	defer res.Body.Close()
	var s seen
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	for _, k := range forwardingHeaders {
		if got := headerSpellings(s.Header, k); len(got) != 0 {
			t.Errorf("%s from an untrusted client reached the app: %q", k, got)
		}
	}
	if got := s.Header["X-Forwarded-Host"]; len(got) != 1 || got[0] != "app.example.com" {
		t.Errorf("X-Forwarded-Host = %q, want rp's public host", got)
	}
}
