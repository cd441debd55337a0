// Package e2e runs rp against a real, certified OpenID Provider
// (oidc-provider from npm, in e2e/provider) on loopback: sign-in with PKCE,
// the protected page, RP-initiated logout and back-channel logout, every
// redirect followed by hand and asserted.
//
// Run: npm ci --prefix e2e/provider && go test ./e2e/
package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/app/apptest"
	"github.com/rp-project/rp/internal/config"
	"github.com/rp-project/rp/internal/session/sessiontest"
)

const (
	clientID     = "rp-e2e"
	clientSecret = "e2e-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	userLogin    = "alice" // the dev login form accepts any login; it becomes sub
	userEmail    = "alice@example.test"
	cookieName   = "rp_session" // http base URL: no __Host- prefix
	// readyTimeout bounds the wait for the provider (a Node process) and
	// rp to start: a bound on a hang, not a speed check. Node loading
	// oidc-provider took over 20 s while the rest of the suite (the load
	// and fault test, Chromium) kept both cores busy.
	readyTimeout = 90 * time.Second
)

// stack is one provider and one rp, both on loopback, for one test.
type stack struct {
	issuer   string
	rpBase   string
	meta     providerMetadata
	opLog    *lockedBuffer // provider's stderr
	rpLog    *lockedBuffer // rp's log
	provider *url.URL
	rp       *url.URL
	cfg      config.Config     // rp's settings
	store    string            // RP_SESSION_STORE
	prefix   string            // RP_PATH_PREFIX, "" for none
	opEnv    []string          // more settings for the provider (OP_*=...)
	rpEnv    map[string]string // more settings for rp, over the defaults
}

// setup is what a test changes from the default stack.
type setup struct {
	store  string            // RP_SESSION_STORE; "" is a SQLite file of the test
	prefix string            // RP_PATH_PREFIX, also registered at the provider
	opEnv  []string          // extra provider settings, e.g. "OP_REFRESH_TOKENS=1"
	rpEnv  map[string]string // extra rp settings, e.g. RP_UPSTREAM
}

type providerMetadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	EndSessionEndpoint    string `json:"end_session_endpoint"`
}

// TestSignInAndRPInitiatedLogout walks a browser through sign-in at the
// provider, the protected page, RP-initiated logout at rp and at the
// provider, and a new sign-in that must ask for credentials again.
func TestSignInAndRPInitiatedLogout(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := browser(t)

	s.signIn(t, c)

	// GET /logout is a confirmation page: it must not end the session.
	p := s.get(t, c, s.rpBase+"/logout")
	p.wantStatus(t, http.StatusOK)
	logoutForm, ok := findForm(p.body, func(f form) bool {
		return strings.EqualFold(f.attr("method"), "post") && s.sameRPPath(f.attr("action"), "/logout")
	})
	if !ok {
		t.Fatalf(`GET /logout: no <form method="post" action="/logout"> in:\n%s`, p.body)
	}
	csrf := logoutForm.inputValue("csrf_token")
	if csrf == "" || logoutForm.inputType("csrf_token") != "hidden" {
		t.Fatalf("GET /logout: the form has no hidden csrf_token input with a value: %+v", logoutForm.inputs)
	}
	s.get(t, c, s.rpBase+"/profile").wantStatus(t, http.StatusOK)

	// POST /logout is refused without the CSRF token and from a foreign origin.
	for _, bad := range []struct {
		name   string
		form   url.Values
		origin string
	}{
		{"no csrf_token", url.Values{}, s.rpBase},
		{"wrong csrf_token", url.Values{"csrf_token": {csrf + "x"}}, s.rpBase},
		{"foreign Origin", url.Values{"csrf_token": {csrf}}, "http://evil.example"},
	} {
		p := s.post(t, c, s.rpBase+"/logout", bad.form, bad.origin)
		if p.status != http.StatusForbidden && p.status != http.StatusBadRequest {
			t.Errorf("POST /logout with %s: status %d (Location %q), want 403 or 400", bad.name, p.status, p.header.Get("Location"))
		}
	}
	s.get(t, c, s.rpBase+"/profile").wantStatus(t, http.StatusOK)

	old := s.rpCookie(t, c)
	if old == "" {
		t.Fatal("no rp_session cookie in the jar before logout")
	}

	// POST /logout: 303 to the provider's end_session_endpoint.
	p = s.post(t, c, s.rpBase+"/logout", url.Values{"csrf_token": {csrf}}, s.rpBase)
	p.wantStatus(t, http.StatusSeeOther)
	end := p.location(t)
	if got := end.Scheme + "://" + end.Host + end.Path; got != s.meta.EndSessionEndpoint {
		t.Fatalf("POST /logout: Location %s, want the end_session_endpoint %s", end, s.meta.EndSessionEndpoint)
	}
	q := end.Query()
	wantParam(t, "end session", q, "client_id", clientID)
	wantParam(t, "end session", q, "post_logout_redirect_uri", s.rpBase+"/logged-out")
	logoutState := q.Get("state")
	if logoutState == "" {
		t.Error("end session request: no state")
	}
	hint := jwtPayload(t, q.Get("id_token_hint"))
	if hint["sub"] != userLogin || hint["aud"] != clientID || hint["iss"] != s.issuer {
		t.Errorf("id_token_hint: sub %v aud %v iss %v, want %s %s %s", hint["sub"], hint["aud"], hint["iss"], userLogin, clientID, s.issuer)
	}
	if sid, _ := hint["sid"].(string); sid == "" {
		t.Error("id_token_hint has no sid: the provider should include it (backchannel_logout_session_required)")
	}

	// The old session cookie no longer opens a session at rp.
	replay := &http.Client{CheckRedirect: noFollow, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, s.rpBase+"/profile", nil)
	req.AddCookie(&http.Cookie{Name: cookieName, Value: old})
	p = s.do(t, replay, req)
	if p.status == http.StatusOK || !isRedirect(p.status) {
		t.Fatalf("GET /profile with the pre-logout session cookie: status %d, want a redirect into sign-in", p.status)
	}
	s.wantSignInRedirect(t, p)
	// And the browser has no working session either.
	p = s.get(t, c, s.rpBase+"/profile")
	if !isRedirect(p.status) {
		t.Fatalf("GET /profile after logout: status %d, want a redirect into sign-in", p.status)
	}

	// At the provider: its logout confirmation form, then "yes, sign me out".
	p = s.get(t, c, end.String())
	p.wantStatus(t, http.StatusOK)
	opForm, ok := findForm(p.body, func(f form) bool { return f.inputValue("xsrf") != "" })
	if !ok {
		t.Fatalf("provider logout page: no form with an xsrf field in:\n%s", p.body)
	}
	if !regexp.MustCompile(`(?i)<button[^>]*name="logout"[^>]*value="yes"|<button[^>]*value="yes"[^>]*name="logout"`).MatchString(p.body) {
		t.Errorf(`provider logout page: no button name="logout" value="yes"`)
	}
	p = s.post(t, c, p.resolve(t, opForm.attr("action")), url.Values{"xsrf": {opForm.inputValue("xsrf")}, "logout": {"yes"}}, "")
	if !isRedirect(p.status) {
		t.Fatalf("provider logout confirmation: status %d, want a redirect to rp", p.status)
	}
	back := p.location(t)
	if got := back.Scheme + "://" + back.Host + back.Path; got != s.rpBase+"/logged-out" {
		t.Fatalf("provider logout confirmation: Location %s, want %s/logged-out", back, s.rpBase)
	}
	wantParam(t, "post-logout redirect", back.Query(), "state", logoutState)

	// The provider has sent a logout token to rp's back-channel endpoint
	// before answering; rp already ended the session, and must say 200 anyway.
	s.wantProviderLog(t, "backchannel.success", "backchannel.error")

	p = s.get(t, c, back.String())
	p.wantStatus(t, http.StatusOK)
	if !strings.Contains(strings.ToLower(p.body), "signed out") {
		t.Errorf("GET /logged-out: no \"signed out\" in:\n%s", p.body)
	}
	if !strings.Contains(strings.ToLower(p.body), "sign-in service") {
		t.Logf("note: /logged-out does not mention the sign-in service:\n%s", p.body)
	}

	// Signing in again asks for credentials: the provider session is gone.
	p = s.get(t, c, s.rpBase+"/login")
	if !isRedirect(p.status) {
		t.Fatalf("GET /login: status %d, want a redirect to the provider", p.status)
	}
	auth := p.location(t)
	if !strings.HasPrefix(auth.String(), s.meta.AuthorizationEndpoint+"?") {
		t.Fatalf("GET /login: Location %s, want the authorization endpoint %s", auth, s.meta.AuthorizationEndpoint)
	}
	p = s.followProvider(t, c, s.get(t, c, auth.String()))
	p.wantStatus(t, http.StatusOK)
	if _, ok := findForm(p.body, func(f form) bool { return f.hasInput("login") && f.hasInput("password") }); !ok {
		t.Fatalf("second sign-in: want the provider's login form, got:\n%s", p.body)
	}
}

// TestBackChannelLogout ends the session at the provider only (no POST to
// rp's /logout): the provider POSTs a logout token to /backchannel-logout
// and rp must end the browser's session: with rp's sessions in SQLite,
// Redis and PostgreSQL.
func TestBackChannelLogout(t *testing.T) {
	t.Parallel()
	for _, st := range append([]sessiontest.Store{{Name: "sqlite", New: func(testing.TB) string { return "" }}}, sessiontest.Shared(t)...) {
		t.Run(st.Name, func(t *testing.T) {
			t.Parallel()
			testBackChannelLogout(t, startOn(t, st.New(t)))
		})
	}
}

func testBackChannelLogout(t *testing.T, s *stack) {
	c := browser(t)
	s.signIn(t, c)

	// Logout started at the provider (for instance from another application).
	endURL := s.meta.EndSessionEndpoint + "?" + url.Values{"client_id": {clientID}}.Encode()
	p := s.get(t, c, endURL)
	p.wantStatus(t, http.StatusOK)
	opForm, ok := findForm(p.body, func(f form) bool { return f.inputValue("xsrf") != "" })
	if !ok {
		t.Fatalf("provider logout page: no form with an xsrf field in:\n%s", p.body)
	}
	p = s.post(t, c, p.resolve(t, opForm.attr("action")), url.Values{"xsrf": {opForm.inputValue("xsrf")}, "logout": {"yes"}}, "")
	if !isRedirect(p.status) {
		t.Fatalf("provider logout confirmation: status %d, want a redirect", p.status)
	}
	if loc := p.location(t); strings.HasPrefix(loc.String(), s.rpBase) {
		t.Fatalf("provider logout confirmation: redirected to rp (%s) without a post_logout_redirect_uri", loc)
	}
	s.wantProviderLog(t, "backchannel.success", "backchannel.error")

	// The browser still holds its cookie, but the session behind it is gone.
	p = s.get(t, c, s.rpBase+"/profile")
	if p.status == http.StatusOK {
		t.Fatalf("GET /profile after back-channel logout: 200, want a redirect into sign-in")
	}
	s.wantSignInRedirect(t, p)
}

// signIn runs the sign-in flow from an unauthenticated GET /profile to the
// profile page, asserting every hop.
func (s *stack) signIn(t *testing.T, c *http.Client) {
	t.Helper()

	// GET /profile: into sign-in, either via /login or straight to the provider.
	p := s.get(t, c, s.rpBase+"/profile")
	if !isRedirect(p.status) {
		t.Fatalf("GET /profile without a session: status %d, want a redirect into sign-in", p.status)
	}
	loc := p.location(t)
	if s.isRP(loc) {
		if loc.Path != "/login" {
			t.Fatalf("GET /profile without a session: Location %s, want /login?return_to=/profile", loc)
		}
		wantParam(t, "GET /profile redirect", loc.Query(), "return_to", "/profile")
		p = s.get(t, c, loc.String())
		if !isRedirect(p.status) {
			t.Fatalf("GET %s: status %d, want a redirect to the provider", loc.RequestURI(), p.status)
		}
		loc = p.location(t)
	}
	preLogin := s.rpCookie(t, c) // rp may hold a pre-login session for state and PKCE

	// The authorization request.
	if !strings.HasPrefix(loc.String(), s.meta.AuthorizationEndpoint+"?") {
		t.Fatalf("sign-in: Location %s, want the authorization endpoint %s", loc, s.meta.AuthorizationEndpoint)
	}
	q := loc.Query()
	wantParam(t, "authorization request", q, "response_type", "code")
	wantParam(t, "authorization request", q, "client_id", clientID)
	wantParam(t, "authorization request", q, "redirect_uri", s.rpBase+"/callback")
	wantParam(t, "authorization request", q, "code_challenge_method", "S256")
	if cc := q.Get("code_challenge"); !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(cc) {
		t.Errorf("authorization request: code_challenge %q is not a base64url SHA-256", cc)
	}
	for _, name := range []string{"state", "nonce"} {
		if len(q.Get(name)) < 16 {
			t.Errorf("authorization request: %s %q is missing or short", name, q.Get(name))
		}
	}
	if !strings.Contains(" "+q.Get("scope")+" ", " openid ") {
		t.Errorf("authorization request: scope %q lacks openid", q.Get("scope"))
	}
	state := q.Get("state")

	// The provider's login form (devInteractions).
	p = s.followProvider(t, c, s.get(t, c, loc.String()))
	p.wantStatus(t, http.StatusOK)
	login, ok := findForm(p.body, func(f form) bool { return f.hasInput("login") && f.hasInput("password") })
	if !ok {
		t.Fatalf("provider: no login form in:\n%s", p.body)
	}
	v := login.values()
	v.Set("login", userLogin)
	v.Set("password", "any password")
	p = s.followProvider(t, c, s.post(t, c, p.resolve(t, login.attr("action")), v, ""))

	// Its consent form.
	p.wantStatus(t, http.StatusOK)
	consent, ok := findForm(p.body, func(f form) bool { return f.inputValue("prompt") == "consent" })
	if !ok {
		t.Fatalf("provider: no consent form in:\n%s", p.body)
	}
	p = s.followProvider(t, c, s.post(t, c, p.resolve(t, consent.attr("action")), consent.values(), ""))

	// Back to rp's redirect_uri with code, state and iss.
	if !isRedirect(p.status) {
		t.Fatalf("provider after consent: status %d, want a redirect to rp:\n%s", p.status, p.body)
	}
	cb := p.location(t)
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != s.rpBase+"/callback" {
		t.Fatalf("provider after consent: Location %s, want %s/callback", cb, s.rpBase)
	}
	cq := cb.Query()
	if cq.Get("code") == "" {
		t.Fatalf("callback: no code in %s", cb)
	}
	wantParam(t, "callback", cq, "state", state)
	wantParam(t, "callback", cq, "iss", s.issuer)

	// rp redeems the code, sets a new session cookie and goes back to /profile.
	p = s.get(t, c, cb.String())
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		t.Fatalf("GET /callback: status %d, want 302 or 303 to /profile; body:\n%s", p.status, p.body)
	}
	if loc := p.location(t); !s.isRP(loc) || loc.Path != "/profile" || loc.RawQuery != "" {
		t.Fatalf("GET /callback: Location %s, want /profile", p.header.Get("Location"))
	}
	var sc *http.Cookie
	for _, ck := range p.cookies {
		if ck.Name == cookieName {
			sc = ck
		}
	}
	switch {
	case sc == nil:
		t.Fatalf("GET /callback: no %s cookie set (Set-Cookie %q)", cookieName, p.header.Values("Set-Cookie"))
	case sc.Value == "":
		t.Fatalf("GET /callback: %s cookie is empty", cookieName)
	case !sc.HttpOnly:
		t.Errorf("GET /callback: %s cookie is not HttpOnly", cookieName)
	case sc.SameSite != http.SameSiteLaxMode:
		t.Errorf("GET /callback: %s cookie SameSite %v, want Lax", cookieName, sc.SameSite)
	case sc.Path != "/":
		t.Errorf("GET /callback: %s cookie Path %q, want /", cookieName, sc.Path)
	case sc.Secure:
		t.Errorf("GET /callback: %s cookie is Secure on an http base URL: browsers would drop it", cookieName)
	}
	if preLogin != "" && sc.Value == preLogin {
		t.Errorf("GET /callback: the session token was not renewed at sign-in (session fixation)")
	}

	// The protected page.
	p = s.get(t, c, s.rpBase+"/profile")
	p.wantStatus(t, http.StatusOK)
	if !strings.Contains(p.body, userEmail) && !strings.Contains(p.body, userLogin) {
		t.Fatalf("GET /profile: neither sub %q nor email %q shown:\n%s", userLogin, userEmail, p.body)
	}
	if !strings.Contains(p.body, userEmail) {
		t.Logf("note: /profile does not show the email %q", userEmail)
	}
}

// --- starting the provider and rp ---

func start(t *testing.T) *stack { t.Helper(); return startOn(t, "") }

// startOn is start with rp's sessions in store (RP_SESSION_STORE); "" is a
// SQLite file of the test.
func startOn(t *testing.T, store string) *stack {
	t.Helper()
	return startWith(t, setup{store: store})
}

// startWith starts a provider and rp set up as su says.
func startWith(t *testing.T, su setup) *stack {
	t.Helper()
	store := su.store
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	unavailable := func(why string) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	dir, err := filepath.Abs("provider")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err != nil {
		unavailable("the test provider is not installed: run `npm ci --prefix e2e/provider` from the repository root")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node is not on PATH: the end-to-end test needs Node.js 20 or later")
	}

	// rp's listener first: the provider registers redirect URIs under its URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if store == "" {
		store = "sqlite:" + filepath.Join(t.TempDir(), "sessions.db")
	}
	s := &stack{rpBase: "http://" + ln.Addr().String(), opLog: &lockedBuffer{}, rpLog: &lockedBuffer{}, store: store,
		prefix: su.prefix, opEnv: su.opEnv, rpEnv: su.rpEnv}
	s.rp, _ = url.Parse(s.rpBase)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("provider log:\n%s", s.opLog.String())
			t.Logf("rp log:\n%s", s.rpLog.String())
		}
	})

	s.issuer = startProvider(t, node, dir, s)
	s.provider, _ = url.Parse(s.issuer)
	s.meta = fetchMetadata(t, s.issuer)
	startRP(t, ln, s)
	return s
}

// startProvider runs e2e/provider/server.mjs on a free loopback port and
// returns its issuer. It stops with the test (stdin closed, then killed).
func startProvider(t *testing.T, node, dir string, s *stack) string {
	t.Helper()
	cmd := exec.Command(node, "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"OP_PORT=0",
		"OP_RP_BASE_URL="+s.rpBase,
		"OP_CLIENT_ID="+clientID,
		"OP_CLIENT_SECRET="+clientSecret,
		"OP_RP_PATH_PREFIX="+s.prefix,
	)
	cmd.Env = append(cmd.Env, s.opEnv...)
	ready := make(chan string, 1)
	cmd.Stdout = &readyWriter{ready: ready, log: s.opLog}
	cmd.Stderr = s.opLog
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the provider: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close() // server.mjs exits when its stdin closes
		select {
		case <-exited:
			return
		case <-time.After(5 * time.Second):
		}
		_ = cmd.Process.Kill()
		<-exited
	})

	select {
	case issuer := <-ready:
		return issuer
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("the provider exited before it was ready (%v):\n%s", err, s.opLog.String())
	case <-time.After(readyTimeout):
		t.Fatalf("the provider was not ready within %s:\n%s", readyTimeout, s.opLog.String())
	}
	return ""
}

func fetchMetadata(t *testing.T, issuer string) providerMetadata {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("provider discovery: %v", err)
	}
	defer resp.Body.Close()
	var m providerMetadata
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || m.AuthorizationEndpoint == "" || m.EndSessionEndpoint == "" {
		t.Fatalf("provider discovery: status %d, %+v, %v", resp.StatusCode, m, err)
	}
	if m.Issuer != issuer {
		t.Fatalf("provider discovery: issuer %q, want %q", m.Issuer, issuer)
	}
	return m
}

// startRP runs rp in-process on ln until the test ends and waits for /readyz.
func startRP(t *testing.T, ln net.Listener, s *stack) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(s.rpLog, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := apptest.Serve(t, ln, s.rpSettings(ln.Addr().String()), logger)
	s.cfg = a.Config

	deadline := time.Now().Add(readyTimeout)
	for {
		resp, err := http.Get(s.rpBase + s.prefix + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rp's /readyz did not answer 200 within %s (last: %v)", readyTimeout, describe(resp, err))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rpSettings is rp's environment for an instance listening on addr.
func (s *stack) rpSettings(addr string) map[string]string {
	env := map[string]string{
		"RP_ISSUER":           s.issuer,
		"RP_CLIENT_ID":        clientID,
		"RP_CLIENT_SECRET":    clientSecret,
		"RP_BASE_URL":         s.rpBase,
		"RP_ADDR":             addr,
		"RP_SESSION_STORE":    s.store,
		"RP_PROVIDER_TIMEOUT": "5s",
		"RP_LOG_LEVEL":        "debug",
		"RP_PATH_PREFIX":      s.prefix,
		// oidc-provider issues refresh tokens only with offline_access
		// (Core 11), which rp no longer asks for by default.
		"RP_OFFLINE_ACCESS": "true",
	}
	for k, v := range s.rpEnv {
		env[k] = v
	}
	return env
}

func describe(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

// --- the browser ---

func noFollow(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// browser is a client with a cookie jar that does not follow redirects.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: noFollow, Timeout: 10 * time.Second}
}

type page struct {
	method  string
	url     *url.URL
	status  int
	header  http.Header
	cookies []*http.Cookie
	body    string
}

func (s *stack) do(t *testing.T, c *http.Client, req *http.Request) page {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return page{req.Method, req.URL, resp.StatusCode, resp.Header, resp.Cookies(), string(body)}
}

func (s *stack) get(t *testing.T, c *http.Client, u string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s.do(t, c, req)
}

// post sends a form; origin, when set, goes in the Origin header as a
// browser would send it.
func (s *stack) post(t *testing.T, c *http.Client, u string, form url.Values, origin string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return s.do(t, c, req)
}

// followProvider follows redirects that stay at the provider, asserting each
// hop, and returns the first answer that is not one.
func (s *stack) followProvider(t *testing.T, c *http.Client, p page) page {
	t.Helper()
	for hops := 0; isRedirect(p.status); hops++ {
		if p.status != http.StatusFound && p.status != http.StatusSeeOther {
			t.Fatalf("%s %s: status %d, want 302 or 303", p.method, p.url, p.status)
		}
		loc := p.location(t)
		if s.isRP(loc) {
			return p
		}
		if loc.Host != s.provider.Host {
			t.Fatalf("%s %s: redirect to %s, neither the provider nor rp", p.method, p.url, loc)
		}
		if hops > 10 {
			t.Fatalf("more than 10 redirects at the provider, last to %s", loc)
		}
		p = s.get(t, c, loc.String())
	}
	if p.status != http.StatusOK {
		t.Fatalf("%s %s: status %d:\n%s", p.method, p.url, p.status, p.body)
	}
	return p
}

// wantSignInRedirect checks that p sends the browser into sign-in: to /login
// at rp or to the authorization endpoint.
func (s *stack) wantSignInRedirect(t *testing.T, p page) {
	t.Helper()
	if !isRedirect(p.status) {
		t.Fatalf("%s %s: status %d, want a redirect into sign-in", p.method, p.url, p.status)
	}
	loc := p.location(t)
	if !(s.isRP(loc) && loc.Path == "/login") && !strings.HasPrefix(loc.String(), s.meta.AuthorizationEndpoint+"?") {
		t.Fatalf("%s %s: Location %s, want /login or the authorization endpoint", p.method, p.url, loc)
	}
}

// wantProviderLog waits briefly for the provider's log to show good (and
// fails if it shows bad instead).
func (s *stack) wantProviderLog(t *testing.T, good, bad string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		log := s.opLog.String()
		if strings.Contains(log, bad) {
			t.Errorf("provider reported %s:\n%s", bad, log)
			return
		}
		if strings.Contains(log, good) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("provider did not report %s:\n%s", good, log)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *stack) isRP(u *url.URL) bool { return u.Scheme == s.rp.Scheme && u.Host == s.rp.Host }

// sameRPPath reports whether a form action (relative or absolute) is path at rp.
func (s *stack) sameRPPath(action, path string) bool {
	u, err := s.rp.Parse(html.UnescapeString(action))
	return err == nil && s.isRP(u) && u.Path == path && u.RawQuery == ""
}

// rpCookie is the rp_session value the browser would send to rp.
func (s *stack) rpCookie(t *testing.T, c *http.Client) string {
	t.Helper()
	for _, ck := range c.Jar.Cookies(s.rp) {
		if ck.Name == cookieName {
			return ck.Value
		}
	}
	return ""
}

func isRedirect(status int) bool { return status >= 300 && status < 400 }

func (p page) wantStatus(t *testing.T, want int) {
	t.Helper()
	if p.status != want {
		t.Fatalf("%s %s: status %d, want %d (Location %q); body:\n%s", p.method, p.url, p.status, want, p.header.Get("Location"), p.body)
	}
}

func (p page) location(t *testing.T) *url.URL {
	t.Helper()
	loc := p.header.Get("Location")
	if loc == "" {
		t.Fatalf("%s %s: status %d without a Location", p.method, p.url, p.status)
	}
	return p.mustResolve(t, loc)
}

func (p page) resolve(t *testing.T, ref string) string {
	t.Helper()
	return p.mustResolve(t, html.UnescapeString(ref)).String()
}

func (p page) mustResolve(t *testing.T, ref string) *url.URL {
	t.Helper()
	u, err := p.url.Parse(ref)
	if err != nil {
		t.Fatalf("%s %s: bad URL %q: %v", p.method, p.url, ref, err)
	}
	return u
}

func wantParam(t *testing.T, what string, q url.Values, name, want string) {
	t.Helper()
	if got, ok := q[name]; !ok || len(got) != 1 || got[0] != want {
		t.Errorf("%s: %s = %q, want %q", what, name, got, want)
	}
}

// jwtPayload decodes a JWT's claims without checking anything else.
func jwtPayload(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact serialization: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return m
}

// --- HTML forms, read with regular expressions (the pages are known) ---

type form struct {
	attrs  map[string]string
	inputs []map[string]string
}

var (
	formRE  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form\s*>`)
	inputRE = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attrRE  = regexp.MustCompile(`(?is)([a-z_:][-a-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))`)
)

func parseAttrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(s, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2] + a[3] + a[4])
	}
	return m
}

func findForm(body string, match func(form) bool) (form, bool) {
	for _, f := range formRE.FindAllStringSubmatch(body, -1) {
		fm := form{attrs: parseAttrs(f[1])}
		for _, in := range inputRE.FindAllStringSubmatch(f[2], -1) {
			fm.inputs = append(fm.inputs, parseAttrs(in[1]))
		}
		if match(fm) {
			return fm, true
		}
	}
	return form{}, false
}

func (f form) attr(name string) string { return f.attrs[name] }

func (f form) hasInput(name string) bool {
	for _, in := range f.inputs {
		if in["name"] == name {
			return true
		}
	}
	return false
}

func (f form) inputValue(name string) string {
	for _, in := range f.inputs {
		if in["name"] == name {
			return in["value"]
		}
	}
	return ""
}

func (f form) inputType(name string) string {
	for _, in := range f.inputs {
		if in["name"] == name {
			return strings.ToLower(in["type"])
		}
	}
	return ""
}

// values are the form's named inputs with their values, as a browser submits them.
func (f form) values() url.Values {
	v := url.Values{}
	for _, in := range f.inputs {
		if in["name"] != "" {
			v.Add(in["name"], in["value"])
		}
	}
	return v
}

// --- process output ---

// lockedBuffer collects a log written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// readyWriter is the provider's stdout: it hands the issuer of the first
// "READY <issuer>" line to ready and copies everything to log.
type readyWriter struct {
	ready chan<- string
	log   io.Writer
	line  []byte
	done  bool
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.log.Write(p)
	if w.done {
		return len(p), nil
	}
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimSpace(string(w.line[:i]))
		w.line = w.line[i+1:]
		if issuer, ok := strings.CutPrefix(line, "READY "); ok {
			w.done = true
			w.ready <- issuer
			return len(p), nil
		}
	}
}
