package e2e

// Refresh tokens against the real provider, with rp in proxy mode (routes
// under /_rp) in front of a recording app: sign-in through the app with
// offline_access, a refresh shortly before the access token expires, a
// refresh the provider refuses, and the revocation at logout. The provider's
// test API (OP_TEST_API, see provider/server.mjs) reports which token and
// revocation requests it answered, and how.

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/app/apptest"
	"github.com/rp-project/rp/internal/session/sessiontest"
)

const (
	rpPrefix = "/_rp"
	// shortTTL is the access token lifetime of the refresh tests: rp
	// refreshes at expiry − lifetime/4, 1.5 s after the token was issued.
	shortTTL = 2 * time.Second
)

// appRequest is one request the app behind rp received.
type appRequest struct {
	Path          string
	Authorization string
	User          string // X-Forwarded-User
	Cookie        string
}

// app is the upstream: it records what rp sends it and answers 200.
type app struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []appRequest
}

func startApp(t *testing.T) *app {
	a := &app{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.reqs = append(a.reqs, appRequest{Path: r.URL.RequestURI(), Authorization: r.Header.Get("Authorization"),
			User: r.Header.Get("X-Forwarded-User"), Cookie: r.Header.Get("Cookie")})
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>app</title><p>the app at %s\n", html.EscapeString(r.URL.Path))
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) requests() []appRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]appRequest(nil), a.reqs...)
}

func (a *app) last(t *testing.T) appRequest {
	t.Helper()
	r := a.requests()
	if len(r) == 0 {
		t.Fatal("the app received no request")
	}
	return r[len(r)-1]
}

// startProxyStack starts the provider (refresh tokens for rp's client, its
// test API, and opEnv) and rp in proxy mode in front of a new app, with its
// routes under /_rp and the access token passed on.
func startProxyStack(t *testing.T, opEnv ...string) (*stack, *app) {
	t.Helper()
	return startProxyStackOn(t, "", opEnv...)
}

// startProxyStackOn is startProxyStack with rp's sessions in store.
func startProxyStackOn(t *testing.T, store string, opEnv ...string) (*stack, *app) {
	t.Helper()
	a := startApp(t)
	s := startWith(t, setup{
		store:  store,
		prefix: rpPrefix,
		opEnv:  append([]string{"OP_REFRESH_TOKENS=1", "OP_TEST_API=1"}, opEnv...),
		rpEnv: map[string]string{
			"RP_UPSTREAM":          a.srv.URL,
			"RP_PASS_ACCESS_TOKEN": "true",
			// The test asks /auth as a proxy would, from loopback, with
			// the proxy's proof.
			"RP_TRUSTED_PROXIES":     "127.0.0.1",
			"RP_FORWARD_AUTH_SECRET": forwardAuthSecret,
		},
	})
	return s, a
}

// startSecondRP starts another rp instance on the stack's session store, as
// a second replica behind a load balancer, and returns its origin. The
// browser's cookie jar sends it the same cookie (cookies ignore ports).
func (s *stack) startSecondRP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(s.rpLog, &slog.HandlerOptions{Level: slog.LevelDebug})).With("instance", 2)
	apptest.Serve(t, ln, s.rpSettings(ln.Addr().String()), logger)
	return "http://" + ln.Addr().String()
}

// --- the provider's side ---

type opDiscovery struct {
	TokenEndpoint       string   `json:"token_endpoint"`
	RevocationEndpoint  string   `json:"revocation_endpoint"`
	ScopesSupported     []string `json:"scopes_supported"`
	GrantTypesSupported []string `json:"grant_types_supported"`
}

func (s *stack) discovery(t *testing.T) opDiscovery {
	t.Helper()
	var d opDiscovery
	s.getJSON(t, s.issuer+"/.well-known/openid-configuration", &d)
	return d
}

// opEvent is one entry of the provider's /__test/events.
type opEvent struct {
	Type               string `json:"type"`
	ClientID           string `json:"client_id"`
	Status             int    `json:"status"`
	Error              string `json:"error"`
	ErrorDescription   string `json:"error_description"`
	GrantType          string `json:"grant_type"`
	RefreshToken       string `json:"refresh_token"`
	IssuedAccessToken  string `json:"issued_access_token"`
	IssuedRefreshToken string `json:"issued_refresh_token"`
	IssuedIDToken      string `json:"issued_id_token"`
	Scope              string `json:"scope"`
	Token              string `json:"token"`
	TokenTypeHint      string `json:"token_type_hint"`
	JTI                string `json:"jti"`
	GrantID            string `json:"grant_id"`
	AccountID          string `json:"account_id"`
	Gty                string `json:"gty"`
}

// String is an event in brief, tokens by their first characters.
func (e opEvent) String() string {
	var b strings.Builder
	b.WriteString(e.Type)
	add := func(name, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%s", name, v)
		}
	}
	short := func(tok string) string {
		if len(tok) > 8 {
			return tok[:8] + "…"
		}
		return tok
	}
	add("grant_type", e.GrantType)
	add("client", e.ClientID)
	if e.Status != 0 {
		add("status", fmt.Sprint(e.Status))
	}
	add("error", e.Error)
	add("error_description", e.ErrorDescription)
	add("refresh_token", short(e.RefreshToken))
	add("issued_access_token", short(e.IssuedAccessToken))
	add("issued_refresh_token", short(e.IssuedRefreshToken))
	add("token", short(e.Token))
	add("hint", e.TokenTypeHint)
	add("jti", short(e.JTI))
	add("account", e.AccountID)
	return b.String()
}

func (s *stack) opEvents(t *testing.T) []opEvent {
	t.Helper()
	var ev []opEvent
	s.getJSON(t, s.issuer+"/__test/events", &ev)
	return ev
}

// tokenRequests are the provider's token endpoint answers for grantType.
func tokenRequests(ev []opEvent, grantType string) []opEvent {
	var out []opEvent
	for _, e := range ev {
		if e.Type == "token" && e.GrantType == grantType {
			out = append(out, e)
		}
	}
	return out
}

func eventsOf(ev []opEvent, typ string) []opEvent {
	var out []opEvent
	for _, e := range ev {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func (s *stack) getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// directRefresh redeems refreshToken at the token endpoint with rp's client
// credentials, as rp would, and returns the status and the error code.
func (s *stack) directRefresh(t *testing.T, refreshToken string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.discovery(t).TokenEndpoint,
		strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, clientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("refresh_token grant: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error
}

// --- the browser's side ---

// nav is a browser navigation to u.
func (s *stack) nav(t *testing.T, c *http.Client, u string) page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	navHeaders(req.Header)
	return s.do(t, c, req)
}

// forwardAuthSecret is the stack's RP_FORWARD_AUTH_SECRET.
const forwardAuthSecret = "e2eQv7Lk2Rz9Xw4Tb1Nm6Hs3Jd8Fg5Pc0Ay+Ue/Wo="

// forwardAuth asks base's /auth about a navigation to /app, as nginx,
// Traefik or Caddy would: the browser's cookie, the original request in
// X-Forwarded-*, and the proxy's proof (RP_FORWARD_AUTH_SECRET). rp gives
// the access token only to such a sub-request.
func (s *stack) forwardAuth(t *testing.T, c *http.Client, base string) page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+rpPrefix+"/auth", nil)
	navHeaders(req.Header)
	u, _ := url.Parse(base)
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Proto", u.Scheme)
	req.Header.Set("X-Forwarded-Host", u.Host)
	req.Header.Set("X-Forwarded-Uri", "/app")
	req.Header.Set("X-RP-Forward-Auth-Secret", forwardAuthSecret)
	return s.do(t, c, req)
}

func navHeaders(h http.Header) {
	h.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	h.Set("Sec-Fetch-Mode", "navigate")
	h.Set("Sec-Fetch-Dest", "document")
}

func apiHeaders(h http.Header) {
	h.Set("Accept", "application/json")
	h.Set("Sec-Fetch-Mode", "cors")
	h.Set("Sec-Fetch-Dest", "empty")
}

// api is a script's request to u (fetch with Accept: application/json).
func (s *stack) api(t *testing.T, c *http.Client, u string) page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	apiHeaders(req.Header)
	return s.do(t, c, req)
}

// wantToLogin checks that p sends the browser to rp's /_rp/login, coming
// back to returnTo.
func (s *stack) wantToLogin(t *testing.T, p page, returnTo string) {
	t.Helper()
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		t.Fatalf("%s %s: status %d, want 302 or 303 to %s/login; body:\n%s", p.method, p.url, p.status, rpPrefix, p.body)
	}
	loc := p.location(t)
	if !s.isRP(loc) || loc.Path != rpPrefix+"/login" {
		t.Fatalf("%s %s: Location %s, want %s/login", p.method, p.url, loc, rpPrefix)
	}
	wantParam(t, p.method+" "+p.url.Path+" redirect", loc.Query(), "return_to", returnTo)
}

// signInThroughApp signs the browser in from a navigation to the app's
// /app, asserting every hop, and returns when the browser is back at /app
// (not yet requested) and the time before rp redeemed the code.
func (s *stack) signInThroughApp(t *testing.T, c *http.Client) (redeemed time.Time) {
	t.Helper()

	p := s.nav(t, c, s.rpBase+"/app")
	s.wantToLogin(t, p, "/app")
	p = s.nav(t, c, p.location(t).String())
	if !isRedirect(p.status) {
		t.Fatalf("GET %s/login: status %d, want a redirect to the provider; body:\n%s", rpPrefix, p.status, p.body)
	}
	auth := p.location(t)
	if !strings.HasPrefix(auth.String(), s.meta.AuthorizationEndpoint+"?") {
		t.Fatalf("GET %s/login: Location %s, want the authorization endpoint %s", rpPrefix, auth, s.meta.AuthorizationEndpoint)
	}
	q := auth.Query()
	wantParam(t, "authorization request", q, "redirect_uri", s.rpBase+rpPrefix+"/callback")
	wantParam(t, "authorization request", q, "prompt", "consent")
	scope := " " + q.Get("scope") + " "
	if !strings.Contains(scope, " openid ") || !strings.Contains(scope, " offline_access ") {
		t.Errorf("authorization request: scope %q, want openid and offline_access", q.Get("scope"))
	}
	state := q.Get("state")

	// Login, then consent: the provider asks for it for offline_access.
	p = s.followProvider(t, c, s.nav(t, c, auth.String()))
	login, ok := findForm(p.body, func(f form) bool { return f.hasInput("login") && f.hasInput("password") })
	if !ok {
		t.Fatalf("provider: no login form in:\n%s", p.body)
	}
	v := login.values()
	v.Set("login", userLogin)
	v.Set("password", "any password")
	p = s.followProvider(t, c, s.post(t, c, p.resolve(t, login.attr("action")), v, ""))
	consent, ok := findForm(p.body, func(f form) bool { return f.inputValue("prompt") == "consent" })
	if !ok {
		t.Fatalf("provider: no consent form in:\n%s", p.body)
	}
	if !strings.Contains(strings.ToLower(p.body), "offline") {
		t.Errorf("provider's consent page does not mention offline access:\n%s", p.body)
	}
	p = s.followProvider(t, c, s.post(t, c, p.resolve(t, consent.attr("action")), consent.values(), ""))
	if !isRedirect(p.status) {
		t.Fatalf("provider after consent: status %d, want a redirect to rp:\n%s", p.status, p.body)
	}
	cb := p.location(t)
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != s.rpBase+rpPrefix+"/callback" {
		t.Fatalf("provider after consent: Location %s, want %s%s/callback", cb, s.rpBase, rpPrefix)
	}
	wantParam(t, "callback", cb.Query(), "state", state)

	redeemed = time.Now()
	p = s.nav(t, c, cb.String())
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		t.Fatalf("GET %s/callback: status %d, want 302 or 303 to /app; body:\n%s", rpPrefix, p.status, p.body)
	}
	if loc := p.location(t); !s.isRP(loc) || loc.RequestURI() != "/app" {
		t.Fatalf("GET %s/callback: Location %s, want /app", rpPrefix, loc)
	}
	return redeemed
}

// signInRefreshToken checks the provider's bookkeeping of the sign-in: one
// authorization_code grant that granted offline_access and issued a refresh
// token to rp's client for the user, which it returns.
func (s *stack) signInRefreshToken(t *testing.T) string {
	t.Helper()
	ev := s.opEvents(t)
	codes := tokenRequests(ev, "authorization_code")
	if len(codes) != 1 || codes[0].Status != http.StatusOK || codes[0].ClientID != clientID {
		t.Fatalf("provider: authorization_code grants %+v, want one that succeeded for %s", codes, clientID)
	}
	if !strings.Contains(" "+codes[0].Scope+" ", " offline_access ") {
		t.Errorf("provider: granted scope %q lacks offline_access", codes[0].Scope)
	}
	rt := codes[0].IssuedRefreshToken
	if rt == "" {
		t.Fatal("provider: the sign-in's token response has no refresh_token")
	}
	saved := eventsOf(ev, "refresh_token.saved")
	if len(saved) != 1 || saved[0].JTI != rt || saved[0].AccountID != userLogin || saved[0].ClientID != clientID {
		t.Fatalf("provider: refresh tokens saved %+v, want %s's for %s", saved, userLogin, clientID)
	}
	return rt
}

// bearer is the access token in an Authorization header.
func bearer(t *testing.T, h string) string {
	t.Helper()
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		t.Fatalf("the app got Authorization %q, want Bearer <access token>", h)
	}
	return tok
}

// openApp navigates to /app and returns the access token the app got.
func (s *stack) openApp(t *testing.T, a *app, c *http.Client) string {
	t.Helper()
	s.nav(t, c, s.rpBase+"/app").wantStatus(t, http.StatusOK)
	r := a.last(t)
	if r.Path != "/app" || r.User != userLogin {
		t.Fatalf("the app got %s with X-Forwarded-User %q, want /app for %s", r.Path, r.User, userLogin)
	}
	if strings.Contains(r.Cookie, cookieName) {
		t.Errorf("rp's cookie reached the app: %q", r.Cookie)
	}
	return bearer(t, r.Authorization)
}

// sleepUntil sleeps until at.
func sleepUntil(at time.Time) { time.Sleep(time.Until(at)) }

// dueAfter is when tokens redeemed after from are surely due for refresh.
func dueAfter(from time.Time) time.Time {
	return from.Add(shortTTL - shortTTL/4 + 300*time.Millisecond)
}

// --- the tests ---

// TestRefreshThroughProxy: sign-in through the app with offline_access,
// then, once the short-lived access token is due, concurrent requests to the
// app, through two rp instances sharing the session store, make exactly one
// refresh_token grant and all carry the new access token.
//
// oidc-provider keeps a (young) confidential client's refresh token by
// default: the same one comes back, and the kept variant's second refresh,
// from a forward-auth check, redeems it again. With rotation on, each
// refresh consumes the token and issues a new one; the second refresh, at
// the other instance, must send the rotated token (the old one would make
// the provider revoke the whole grant). The rotating variant also runs on
// each shared store (Redis, PostgreSQL).
func TestRefreshThroughProxy(t *testing.T) {
	t.Parallel()
	type variant struct {
		name   string
		rotate bool
		store  func(testing.TB) string
	}
	sqlite := func(testing.TB) string { return "" }
	variants := []variant{{"kept refresh token/sqlite", false, sqlite}, {"rotated refresh token/sqlite", true, sqlite}}
	for _, st := range sessiontest.Shared(t) {
		variants = append(variants, variant{"rotated refresh token/" + st.Name, true, st.New})
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			env := []string{fmt.Sprintf("OP_ACCESS_TOKEN_TTL=%d", int(shortTTL/time.Second))}
			if v.rotate {
				env = append(env, "OP_ROTATE_REFRESH_TOKENS=1")
			}
			s, a := startProxyStackOn(t, v.store(t), env...)
			testRefresh(t, s, a, v.rotate)
		})
	}
}

func testRefresh(t *testing.T, s *stack, a *app, rotate bool) {
	d := s.discovery(t)
	if !contains(d.ScopesSupported, "offline_access") || !contains(d.GrantTypesSupported, "refresh_token") {
		t.Fatalf("provider discovery: scopes_supported %v, grant_types_supported %v: no refresh tokens offered", d.ScopesSupported, d.GrantTypesSupported)
	}
	second := s.startSecondRP(t)
	c := browser(t)
	redeemed := s.signInThroughApp(t, c)
	rt := s.signInRefreshToken(t)
	at0 := s.openApp(t, a, c)
	if codes := tokenRequests(s.opEvents(t), "authorization_code"); at0 != codes[0].IssuedAccessToken {
		t.Errorf("the app got an access token that is not the sign-in's")
	}
	if n := len(tokenRequests(s.opEvents(t), "refresh_token")); n != 0 {
		t.Fatalf("provider: %d refresh_token grants before the access token was due, want 0", n)
	}

	// Due: several requests at once, to both instances, from the browser
	// and from scripts.
	sleepUntil(dueAfter(redeemed))
	before := len(a.requests())
	var wg sync.WaitGroup
	status := make([]int, 8)
	errs := make([]error, len(status))
	for i := range status {
		wg.Go(func() {
			origin := s.rpBase
			if i%2 == 1 {
				origin = second
			}
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/app/%d", origin, i), nil)
			if i/2%2 == 0 {
				navHeaders(req.Header)
			} else {
				apiHeaders(req.Header)
			}
			resp, err := c.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status[i] = resp.StatusCode
		})
	}
	wg.Wait()
	refreshedAt := time.Now()
	for i := range status {
		if errs[i] != nil || status[i] != http.StatusOK {
			t.Fatalf("concurrent GET /app/%d (instance %d) once the access token was due: status %d, %v; want 200; provider's refresh_token grants:\n%v",
				i, i%2+1, status[i], errs[i], tokenRequests(s.opEvents(t), "refresh_token"))
		}
	}
	refreshes := tokenRequests(s.opEvents(t), "refresh_token")
	if len(refreshes) != 1 {
		t.Fatalf("provider: %d refresh_token grants for %d concurrent requests to 2 instances, want exactly 1: %v", len(refreshes), len(status), refreshes)
	}
	r1 := refreshes[0]
	if r1.Status != http.StatusOK || r1.ClientID != clientID || r1.RefreshToken != rt {
		t.Fatalf("provider: refresh %v, want 200 for %s with the sign-in's refresh token", r1, clientID)
	}
	at1 := r1.IssuedAccessToken
	if at1 == "" || at1 == at0 {
		t.Fatalf("provider: the refresh issued access token %q (sign-in's %q)", at1, at0)
	}
	for _, r := range a.requests()[before:] {
		if got := bearer(t, r.Authorization); got != at1 {
			t.Errorf("the app got %s with %s, want the refreshed access token", r.Path, describeToken(got, at0, at1))
		}
		if r.User != userLogin {
			t.Errorf("the app got %s with X-Forwarded-User %q, want %s", r.Path, r.User, userLogin)
		}
	}
	if r1.IssuedIDToken != "" {
		if c := jwtPayload(t, r1.IssuedIDToken); c["sub"] != userLogin {
			t.Errorf("refreshed ID token: sub %v", c["sub"])
		}
	}

	// oidc-provider keeps a young confidential client's refresh token, and
	// sends it back; with rotation it sends a new one and consumes the old.
	consumed := eventsOf(s.opEvents(t), "refresh_token.consumed")
	if !rotate {
		if r1.IssuedRefreshToken != rt || len(consumed) != 0 {
			t.Fatalf("provider without rotation: issued refresh token %q, consumed %v; want the same token back and none consumed", r1.IssuedRefreshToken, consumed)
		}
	} else if r1.IssuedRefreshToken == "" || r1.IssuedRefreshToken == rt || len(consumed) != 1 || consumed[0].JTI != rt {
		t.Fatalf("provider with rotation: issued refresh token %q, consumed %v; want a new token and the sign-in's consumed", r1.IssuedRefreshToken, consumed)
	}

	// Forward-auth answers the proxy with the refreshed token too, and the
	// user is still signed in at rp; the browser asking /auth itself
	// learns who it is, never the token.
	if d := s.nav(t, c, s.rpBase+rpPrefix+"/auth"); d.status != http.StatusOK || d.header.Get("Authorization") != "" {
		t.Errorf("GET %s/auth from the browser: %d, Authorization %q; want 200 without the token", rpPrefix, d.status, d.header.Get("Authorization"))
	}
	p := s.forwardAuth(t, c, s.rpBase)
	p.wantStatus(t, http.StatusOK)
	if got := bearer(t, p.header.Get("Authorization")); got != at1 {
		t.Errorf("GET %s/auth: %s, want the refreshed access token", rpPrefix, describeToken(got, at0, at1))
	}
	if got := p.header.Get("X-Forwarded-User"); got != userLogin {
		t.Errorf("GET %s/auth: X-Forwarded-User %q, want %s", rpPrefix, got, userLogin)
	}
	p = s.nav(t, c, s.rpBase+rpPrefix+"/profile")
	p.wantStatus(t, http.StatusOK)
	if !strings.Contains(p.body, userLogin) {
		t.Errorf("GET %s/profile after the refresh does not show %s:\n%s", rpPrefix, userLogin, p.body)
	}
	if n := len(tokenRequests(s.opEvents(t), "refresh_token")); n != 1 {
		t.Fatalf("provider: %d refresh_token grants, want still 1 (the new access token is not due)", n)
	}
	if got := s.forwardAuth(t, c, second); got.status != http.StatusOK || bearer(t, got.header.Get("Authorization")) != at1 {
		t.Errorf("GET %s/auth at the second instance: %d, want 200 with the refreshed access token", rpPrefix, got.status)
	}
	sleepUntil(dueAfter(refreshedAt))
	if !rotate {
		// A second refresh, from a forward-auth check: /auth answers with
		// the new access token.
		p = s.forwardAuth(t, c, s.rpBase)
		refreshes = tokenRequests(s.opEvents(t), "refresh_token")
		if p.status != http.StatusOK || len(refreshes) != 2 {
			t.Fatalf("forward-auth once the access token was due: GET %s/auth answered %d (Location %q); provider's refresh_token grants:\n%v",
				rpPrefix, p.status, p.header.Get("Location"), refreshes)
		}
		r2 := refreshes[1]
		at2 := bearer(t, p.header.Get("Authorization"))
		if r2.Status != http.StatusOK || r2.RefreshToken != rt || at2 != r2.IssuedAccessToken || at2 == at1 {
			t.Fatalf("refresh from forward-auth: %v; /auth answered with %s", r2, describeToken(at2, at1, r2.IssuedAccessToken))
		}
		return
	}

	// A second refresh, at the other instance, must redeem the rotated token.
	p = s.nav(t, c, second+"/app")
	refreshes = tokenRequests(s.opEvents(t), "refresh_token")
	if p.status != http.StatusOK || len(refreshes) != 2 {
		t.Fatalf("second refresh: GET /app answered %d (Location %q); provider's refresh_token grants:\n%v", p.status, p.header.Get("Location"), refreshes)
	}
	at2 := bearer(t, a.last(t).Authorization)
	r2 := refreshes[1]
	if r2.RefreshToken != r1.IssuedRefreshToken {
		t.Fatalf("second refresh: rp sent %s, want the rotated refresh token", describeToken(r2.RefreshToken, rt, r1.IssuedRefreshToken))
	}
	if r2.Status != http.StatusOK || at2 != r2.IssuedAccessToken || at2 == at1 {
		t.Fatalf("second refresh: %v; the app got %s", r2, describeToken(at2, at1, r2.IssuedAccessToken))
	}
}

// describeToken names tok as the old or the new one, for messages.
func describeToken(tok, old, new string) string {
	switch tok {
	case old:
		return "the old token"
	case new:
		return "the new token"
	}
	return fmt.Sprintf("another token %q", tok)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// TestRefreshRefusedEndsSession: the provider forgets the grant (as when an
// administrator removes the user's consent); when the access token is due,
// the refresh gets invalid_grant, and rp ends the session: a script gets
// 401, a navigation goes to sign-in, rp's profile page no longer shows the
// user, and the app sees no more requests.
func TestRefreshRefusedEndsSession(t *testing.T) {
	t.Parallel()
	s, a := startProxyStack(t, fmt.Sprintf("OP_ACCESS_TOKEN_TTL=%d", int(shortTTL/time.Second)))
	c := browser(t)
	redeemed := s.signInThroughApp(t, c)
	rt := s.signInRefreshToken(t)
	s.openApp(t, a, c)

	var revoked struct {
		Revoked []string `json:"revoked"`
	}
	resp, err := http.Post(s.issuer+"/__test/revoke-grants?account="+url.QueryEscape(userLogin), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&revoked)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(revoked.Revoked) != 1 {
		t.Fatalf("provider test API revoke-grants: %s %+v %v, want one grant revoked", resp.Status, revoked, err)
	}

	sleepUntil(dueAfter(redeemed))
	seen := len(a.requests())
	p := s.api(t, c, s.rpBase+"/app/data.json")
	if p.status != http.StatusUnauthorized {
		t.Fatalf("GET /app/data.json (Accept: application/json) after the refused refresh: status %d (Location %q), want 401; body:\n%s",
			p.status, p.header.Get("Location"), p.body)
	}
	if wa := p.header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Cookie ") {
		t.Errorf("401 without WWW-Authenticate: Cookie ...: %q", wa)
	}
	if loc := p.header.Get("Location"); loc != "" {
		t.Errorf("401 to a script with a Location %q", loc)
	}
	refreshes := tokenRequests(s.opEvents(t), "refresh_token")
	if len(refreshes) != 1 || refreshes[0].RefreshToken != rt || refreshes[0].Status != http.StatusBadRequest || refreshes[0].Error != "invalid_grant" {
		t.Fatalf("provider: refresh_token grants %+v, want one with the sign-in's refresh token answered 400 invalid_grant", refreshes)
	}

	s.wantToLogin(t, s.nav(t, c, s.rpBase+"/app/page?x=1"), "/app/page?x=1")
	p = s.nav(t, c, s.rpBase+rpPrefix+"/profile")
	if p.status == http.StatusOK || strings.Contains(p.body, userLogin) {
		t.Fatalf("GET %s/profile after the refused refresh: status %d, want no signed-in user; body:\n%s", rpPrefix, p.status, p.body)
	}
	if !isRedirect(p.status) {
		t.Errorf("GET %s/profile after the refused refresh: status %d, want a redirect into sign-in", rpPrefix, p.status)
	}
	p = s.nav(t, c, s.rpBase+rpPrefix+"/auth")
	if p.status == http.StatusOK {
		t.Errorf("GET %s/auth after the refused refresh: 200 (X-Forwarded-User %q), want sign-in", rpPrefix, p.header.Get("X-Forwarded-User"))
	}
	if n := len(a.requests()); n != seen {
		t.Errorf("the app got %d requests after the refused refresh: %+v", n-seen, a.requests()[seen:])
	}
	if n := len(tokenRequests(s.opEvents(t), "refresh_token")); n != 1 {
		t.Errorf("provider: %d refresh_token grants, want 1: the ended session must not refresh again", n)
	}
	if !strings.Contains(s.rpLog.String(), "token refresh refused") {
		t.Errorf("rp's log does not say the refresh was refused")
	}
}

// TestLogoutRevokesRefreshToken: at RP-initiated logout rp revokes the
// session's refresh token at the provider's revocation_endpoint before
// sending the browser to end_session; afterwards the token is refused.
func TestLogoutRevokesRefreshToken(t *testing.T) {
	t.Parallel()
	s, a := startProxyStack(t)
	if d := s.discovery(t); d.RevocationEndpoint == "" {
		t.Fatal("provider discovery: no revocation_endpoint")
	}
	c := browser(t)
	s.signInThroughApp(t, c)
	rt := s.signInRefreshToken(t)
	s.openApp(t, a, c)
	// The control: the token works now (oidc-provider keeps it, no rotation).
	if status, code := s.directRefresh(t, rt); status != http.StatusOK {
		t.Fatalf("refresh_token grant with the session's refresh token before logout: %d %s, want 200", status, code)
	}

	end := s.logoutThroughRP(t, c)

	ev := s.opEvents(t)
	revs := eventsOf(ev, "revocation")
	if len(revs) != 1 {
		t.Fatalf("provider: %d revocation requests, want 1: %+v", len(revs), revs)
	}
	r := revs[0]
	if r.Token != rt || r.TokenTypeHint != "refresh_token" || r.ClientID != clientID || r.Status != http.StatusOK {
		t.Errorf("revocation request: token is the session's refresh token %v, hint %q, client %q, status %d; want true, refresh_token, %s, 200",
			r.Token == rt, r.TokenTypeHint, r.ClientID, r.Status, clientID)
	}
	if len(eventsOf(ev, "grant.revoked")) == 0 {
		t.Errorf("provider: no grant revoked with the refresh token")
	}
	s.finishLogoutAtProvider(t, c, end)

	if status, code := s.directRefresh(t, rt); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Errorf("refresh_token grant with the revoked refresh token: %d %q, want 400 invalid_grant", status, code)
	}
	s.wantToLogin(t, s.nav(t, c, s.rpBase+"/app"), "/app")
}

// TestLogoutRefreshesExpiredIDTokenHint: when the stored ID token has
// expired, rp refreshes before the logout and sends the new ID token as
// id_token_hint, then revokes the refresh token.
func TestLogoutRefreshesExpiredIDTokenHint(t *testing.T) {
	t.Parallel()
	const idTTL = 2 * time.Second
	s, a := startProxyStack(t, fmt.Sprintf("OP_ID_TOKEN_TTL=%d", int(idTTL/time.Second)))
	c := browser(t)
	s.signInThroughApp(t, c)
	rt := s.signInRefreshToken(t)
	s.openApp(t, a, c)
	first := tokenRequests(s.opEvents(t), "authorization_code")[0].IssuedIDToken
	exp, _ := jwtPayload(t, first)["exp"].(float64)
	sleepUntil(time.Unix(int64(exp), 0).Add(100 * time.Millisecond))

	end := s.logoutThroughRP(t, c)
	hint := end.Query().Get("id_token_hint")
	ev := s.opEvents(t)
	refreshes := tokenRequests(ev, "refresh_token")
	if len(refreshes) != 1 || refreshes[0].Status != http.StatusOK || refreshes[0].RefreshToken != rt {
		t.Fatalf("provider: refresh_token grants %+v, want one with the session's refresh token before the logout", refreshes)
	}
	switch hint {
	case first:
		t.Errorf("id_token_hint is the expired ID token from the sign-in")
	case refreshes[0].IssuedIDToken:
	default:
		t.Errorf("id_token_hint is neither the sign-in's nor the refreshed ID token")
	}
	if exp, _ := jwtPayload(t, hint)["exp"].(float64); time.Unix(int64(exp), 0).Before(time.Now()) {
		t.Errorf("id_token_hint expired at %s", time.Unix(int64(exp), 0))
	}
	// The refresh came first, then the revocation of the (kept) token.
	iRefresh, iRevoke := -1, -1
	for i, e := range ev {
		switch {
		case e.Type == "token" && e.GrantType == "refresh_token":
			iRefresh = i
		case e.Type == "revocation" && e.Token == rt && e.Status == http.StatusOK:
			iRevoke = i
		}
	}
	if iRevoke < 0 || iRevoke < iRefresh {
		t.Errorf("provider: the refresh token was not revoked after the refresh (events %d, %d)", iRefresh, iRevoke)
	}
	s.finishLogoutAtProvider(t, c, end)
}

// logoutThroughRP posts rp's logout form and returns the end_session URL
// rp sends the browser to.
func (s *stack) logoutThroughRP(t *testing.T, c *http.Client) *url.URL {
	t.Helper()
	p := s.nav(t, c, s.rpBase+rpPrefix+"/logout")
	p.wantStatus(t, http.StatusOK)
	f, ok := findForm(p.body, func(f form) bool {
		return strings.EqualFold(f.attr("method"), "post") && s.sameRPPath(f.attr("action"), rpPrefix+"/logout")
	})
	if !ok || f.inputValue("csrf_token") == "" {
		t.Fatalf(`GET %s/logout: no <form method="post" action="%s/logout"> with a csrf_token in:\n%s`, rpPrefix, rpPrefix, p.body)
	}
	p = s.post(t, c, s.rpBase+rpPrefix+"/logout", url.Values{"csrf_token": {f.inputValue("csrf_token")}}, s.rpBase)
	p.wantStatus(t, http.StatusSeeOther)
	end := p.location(t)
	if got := end.Scheme + "://" + end.Host + end.Path; got != s.meta.EndSessionEndpoint {
		t.Fatalf("POST %s/logout: Location %s, want the end_session_endpoint", rpPrefix, end)
	}
	wantParam(t, "end session", end.Query(), "post_logout_redirect_uri", s.rpBase+rpPrefix+"/logged-out")
	hint := jwtPayload(t, end.Query().Get("id_token_hint"))
	if hint["sub"] != userLogin || hint["aud"] != clientID {
		t.Errorf("id_token_hint: sub %v aud %v", hint["sub"], hint["aud"])
	}
	return end
}

// finishLogoutAtProvider confirms the logout at the provider and follows
// it back to rp's /_rp/logged-out.
func (s *stack) finishLogoutAtProvider(t *testing.T, c *http.Client, end *url.URL) {
	t.Helper()
	p := s.nav(t, c, end.String())
	p.wantStatus(t, http.StatusOK)
	f, ok := findForm(p.body, func(f form) bool { return f.inputValue("xsrf") != "" })
	if !ok {
		t.Fatalf("provider logout page: no form with an xsrf field in:\n%s", p.body)
	}
	p = s.post(t, c, p.resolve(t, f.attr("action")), url.Values{"xsrf": {f.inputValue("xsrf")}, "logout": {"yes"}}, "")
	if !isRedirect(p.status) {
		t.Fatalf("provider logout confirmation: status %d, want a redirect to rp", p.status)
	}
	back := p.location(t)
	if got := back.Scheme + "://" + back.Host + back.Path; got != s.rpBase+rpPrefix+"/logged-out" {
		t.Fatalf("provider logout confirmation: Location %s, want %s%s/logged-out", back, s.rpBase, rpPrefix)
	}
	wantParam(t, "post-logout redirect", back.Query(), "state", end.Query().Get("state"))
	p = s.nav(t, c, back.String())
	p.wantStatus(t, http.StatusOK)
	if !strings.Contains(strings.ToLower(p.body), "signed out") {
		t.Errorf("GET %s/logged-out: no \"signed out\" in:\n%s", rpPrefix, p.body)
	}
}
