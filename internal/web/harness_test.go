package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/app"
	"github.com/rp-project/rp/internal/config"
	"github.com/rp-project/rp/internal/testprovider"
)

// harness is rp in-process in front of a test provider, with a browser-like
// client that does not follow redirects, so every hop can be checked.
type harness struct {
	t      *testing.T
	op     *testprovider.Provider
	app    *app.App
	srv    *httptest.Server
	base   string
	client *http.Client
	env    map[string]string
	logs   io.Writer        // also gets rp's log lines, when set
	now    func() time.Time // rp's clock, when set
}

type option func(h *harness)

func withEnv(k, v string) option { return func(h *harness) { h.env[k] = v } }

// withLogs copies rp's log (debug level) to w.
func withLogs(w io.Writer) option { return func(h *harness) { h.logs = w } }

// testClock is a clock that moves only when told to.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// withClock gives rp the clock c instead of the real one.
func withClock(c *testClock) option { return func(h *harness) { h.now = c.Now } }

func withoutDiscovery() option { return func(h *harness) { h.env["_no_wait"] = "1" } }

// withTLS serves rp over https, so RP_BASE_URL is https.
func withTLS() option { return func(h *harness) { h.env["_tls"] = "1" } }

func newHarness(t *testing.T, opts ...option) *harness {
	t.Helper()
	op := testprovider.New(t)
	return newHarnessFor(t, op, opts...)
}

func newHarnessFor(t *testing.T, op *testprovider.Provider, opts ...option) *harness {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	h := &harness{t: t, op: op, srv: srv, base: "http://" + srv.Listener.Addr().String(), env: map[string]string{}}
	for _, o := range opts {
		o(h)
	}
	if h.env["_tls"] != "" {
		h.base = "https://" + srv.Listener.Addr().String()
	}
	defaults := map[string]string{
		"RP_ISSUER":        op.Issuer,
		"RP_CLIENT_ID":     op.ClientID,
		"RP_CLIENT_SECRET": op.ClientSecret,
		"RP_BASE_URL":      h.base,
		"RP_SESSION_STORE": "memory",
	}
	for k, v := range defaults {
		if _, set := h.env[k]; !set {
			h.env[k] = v
		}
	}
	cfg, err := config.Load(nil, func(k string) string { return h.env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logger := testLogger(t)
	if h.logs != nil {
		logger = slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, h.logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := app.New(context.Background(), cfg, app.Options{Logger: logger, Now: h.now})
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	h.app = a
	srv.Config.Handler = a.Handler
	if h.env["_tls"] != "" {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() { srv.Close(); a.Close() })
	if h.env["_no_wait"] == "" {
		if err := a.OIDC.Discover(context.Background()); err != nil {
			t.Fatalf("discovery: %v", err)
		}
	}
	h.client = newBrowser(t)
	if h.env["_tls"] != "" {
		h.client.Transport = srv.Client().Transport
	}
	return h
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func newBrowser(t *testing.T) *http.Client { return newBrowserTB(t) }

func newBrowserTB(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// resp is a response with its body read.
type resp struct {
	*http.Response
	body string
}

func (h *harness) do(c *http.Client, req *http.Request) resp {
	h.t.Helper()
	r, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{Response: r, body: string(b)}
}

func mustURL(tb testing.TB, raw string) *url.URL {
	tb.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func (h *harness) abs(target string) string {
	if strings.HasPrefix(target, "/") {
		return h.base + target
	}
	return target
}

func (h *harness) get(target string) resp {
	h.t.Helper()
	return h.getWith(h.client, target)
}

func (h *harness) getWith(c *http.Client, target string) resp {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.abs(target), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(c, req)
}

func (h *harness) post(target string, form url.Values, header map[string]string) resp {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.abs(target), strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return h.do(h.client, req)
}

// expectRedirect checks status and returns the Location as sent.
func (h *harness) expectRedirect(r resp, status int) string {
	h.t.Helper()
	if r.StatusCode != status {
		h.t.Fatalf("%s: status %d, want %d; body: %.300s", r.Request.URL.Path, r.StatusCode, status, r.body)
	}
	loc := r.Header.Get("Location")
	if loc == "" {
		h.t.Fatalf("%s: no Location", r.Request.URL.Path)
	}
	return loc
}

// startLogin runs GET /login?return_to=... and the provider's authorize
// step, returning the callback URL the provider redirects to.
func (h *harness) startLogin(returnTo string) string {
	h.t.Helper()
	target := "/login"
	if returnTo != "" {
		target += "?return_to=" + url.QueryEscape(returnTo)
	}
	authURL := h.expectRedirect(h.get(target), http.StatusSeeOther)
	return h.expectRedirect(h.get(authURL), http.StatusFound)
}

// login signs in fully and returns the callback's response.
func (h *harness) login() resp {
	h.t.Helper()
	r := h.get(h.startLogin(""))
	if r.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("callback: status %d; body %.400s", r.StatusCode, r.body)
	}
	return r
}

func (h *harness) cookie(c *http.Client) *http.Cookie {
	u, _ := url.Parse(h.base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "rp_session" || ck.Name == "__Host-rp_session" {
			return ck
		}
	}
	return nil
}

// cookieNamed is the browser's cookie named name, or nil.
func (h *harness) cookieNamed(c *http.Client, name string) *http.Cookie {
	u, _ := url.Parse(h.base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (h *harness) csrf() string {
	h.t.Helper()
	r := h.get("/logout")
	m := csrfRE.FindStringSubmatch(r.body)
	if m == nil {
		h.t.Fatalf("no csrf token on /logout: %.400s", r.body)
	}
	return m[1]
}

// signedIn reports whether the client's session is signed in, by asking
// for the protected page.
func (h *harness) signedIn(c *http.Client) bool {
	h.t.Helper()
	r := h.getWith(c, "/profile")
	switch r.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusSeeOther:
		return false
	}
	h.t.Fatalf("/profile: unexpected status %d", r.StatusCode)
	return false
}

// clientWithCookie is a fresh browser holding only the given cookie.
func (h *harness) clientWithCookie(ck *http.Cookie) *http.Client {
	c := newBrowser(h.t)
	u, _ := url.Parse(h.base)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/"}})
	return c
}
