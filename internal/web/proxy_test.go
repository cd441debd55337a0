package web_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/testprovider"
)

// app is the upstream rp protects in these tests: it records what reaches
// it, and has pages that stream, upload, upgrade and stall.
type upstreamApp struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newApp(t *testing.T) *upstreamApp {
	a := &upstreamApp{}
	mux := http.NewServeMux()
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the second event never comes: the first must arrive alone
	})
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %s", n, hex.EncodeToString(h.Sum(nil)))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "upgrade expected", http.StatusBadRequest)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(buf, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		buf.Flush()
		line, _ := buf.ReadString('\n')
		fmt.Fprint(buf, "echo "+line)
		buf.Flush()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "rp_session", Value: "overwritten-by-the-app"})
		http.SetCookie(w, &http.Cookie{Name: "app_pref", Value: "dark"})
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		fmt.Fprintf(w, "app page %s", r.URL.RequestURI())
	})
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen = append(a.seen, r.Clone(r.Context()))
		a.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *upstreamApp) requests() []*http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*http.Request(nil), a.seen...)
}

func (a *upstreamApp) last(t *testing.T) *http.Request {
	t.Helper()
	rs := a.requests()
	if len(rs) == 0 {
		t.Fatal("nothing reached the app")
	}
	return rs[len(rs)-1]
}

// newProxy is rp in proxy mode in front of a fresh app, its routes under
// /_rp unless opts say otherwise.
func newProxy(t *testing.T, opts ...option) (*harness, *upstreamApp) {
	t.Helper()
	a := newApp(t)
	base := []option{withEnv("RP_UPSTREAM", a.srv.URL), withEnv("RP_PATH_PREFIX", "/_rp")}
	return newHarness(t, append(base, opts...)...), a
}

func (h *harness) prefix() string { return h.env["RP_PATH_PREFIX"] }

// signInVia follows a protected request's redirect through sign-in and
// returns where the callback sends the browser.
func (h *harness) signInVia(target string) string {
	h.t.Helper()
	login := h.expectRedirect(h.browse(target), http.StatusFound)
	authURL := h.expectRedirect(h.get(login), http.StatusSeeOther)
	callback := h.expectRedirect(h.get(authURL), http.StatusFound)
	return h.expectRedirect(h.get(callback), http.StatusSeeOther)
}

// browse is a browser's navigation to target.
func (h *harness) browse(target string) resp {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.abs(target), nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("Sec-Fetch-Dest", "document")
	return h.do(h.client, req)
}

func TestProxyWithoutSession(t *testing.T) {
	h, a := newProxy(t)
	r := h.browse("/reports/q3?year=2026&x=%2F")
	loc := h.expectRedirect(r, http.StatusFound)
	want := h.base + "/_rp/login?return_to=" + url.QueryEscape("/reports/q3?year=2026&x=%2F")
	if loc != want {
		t.Fatalf("a navigation without a session goes to %q, want %q", loc, want)
	}
	for name, req := range map[string]func() *http.Request{
		"api": func() *http.Request {
			r, _ := http.NewRequest("GET", h.base+"/api/items", nil)
			r.Header.Set("Accept", "application/json")
			return r
		},
		"xhr": func() *http.Request {
			r, _ := http.NewRequest("GET", h.base+"/page", nil)
			r.Header.Set("Accept", "text/html")
			r.Header.Set("X-Requested-With", "XMLHttpRequest")
			return r
		},
		"fetch": func() *http.Request {
			r, _ := http.NewRequest("GET", h.base+"/page", nil)
			r.Header.Set("Accept", "text/html")
			r.Header.Set("Sec-Fetch-Mode", "cors")
			return r
		},
		"post": func() *http.Request {
			r, _ := http.NewRequest("POST", h.base+"/form", strings.NewReader("a=1"))
			r.Header.Set("Accept", "text/html")
			return r
		},
		"websocket": func() *http.Request {
			r, _ := http.NewRequest("GET", h.base+"/ws", nil)
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
			r.Header.Set("Accept", "text/html")
			return r
		},
	} {
		got := h.do(h.client, req())
		if got.StatusCode != http.StatusUnauthorized || got.Header.Get("Location") != "" {
			t.Errorf("%s without a session: %d Location=%q; want 401 and no redirect", name, got.StatusCode, got.Header.Get("Location"))
		}
		if !strings.HasPrefix(got.Header.Get("WWW-Authenticate"), "Cookie realm=") {
			t.Errorf("%s: WWW-Authenticate %q", name, got.Header.Get("WWW-Authenticate"))
		}
	}
	if n := len(a.requests()); n != 0 {
		t.Fatalf("%d requests without a session reached the app", n)
	}
}

func TestProxySignInComesBackWithIdentity(t *testing.T) {
	h, a := newProxy(t)
	back := h.signInVia("/reports/q3?year=2026")
	if back != "/reports/q3?year=2026" {
		t.Fatalf("after sign-in the browser goes to %q", back)
	}
	req, _ := http.NewRequest("GET", h.abs(back), nil)
	req.AddCookie(&http.Cookie{Name: "app_pref", Value: "light"})
	r := h.do(h.client, req)
	if r.StatusCode != http.StatusOK || r.body != "app page /reports/q3?year=2026" {
		t.Fatalf("signed in: %d %q", r.StatusCode, r.body)
	}
	got := a.last(t)
	for k, want := range map[string]string{
		"X-Forwarded-User": "alice", "X-Forwarded-Email": "alice@example.com", "X-Forwarded-Preferred-Username": "alice",
		"X-Forwarded-Proto": "http", "X-Forwarded-Host": strings.TrimPrefix(h.base, "http://"),
	} {
		if v := got.Header.Values(k); len(v) != 1 || v[0] != want {
			t.Errorf("the app got %s = %q, want %q", k, v, want)
		}
	}
	if got.Header.Get("Authorization") != "" {
		t.Error("the access token reached the app without RP_PASS_ACCESS_TOKEN")
	}
	if c := got.Header.Get("Cookie"); strings.Contains(c, "rp_session") || !strings.Contains(c, "app_pref=light") {
		t.Errorf("the app got Cookie %q: rp's session cookie must not reach it, the app's own must", c)
	}
	if got.Host != strings.TrimPrefix(a.srv.URL, "http://") {
		t.Errorf("the app got Host %q", got.Host)
	}
	// The app's answer passes unchanged, but it cannot overwrite rp's cookie.
	if csp := r.Header.Values("Content-Security-Policy"); len(csp) != 1 || csp[0] != "default-src 'self'" {
		t.Errorf("the app's answer carries CSP %q: rp's page headers must not be added", csp)
	}
	for _, c := range r.Cookies() {
		if c.Name == "rp_session" {
			t.Error("the app's Set-Cookie of rp's cookie name reached the browser")
		}
	}
	if !strings.Contains(strings.Join(r.Header.Values("Set-Cookie"), ";"), "app_pref=dark") {
		t.Error("the app's own cookies were dropped")
	}
	if h.cookie(h.client).Value == "overwritten-by-the-app" {
		t.Fatal("the app overwrote rp's session cookie")
	}
}

func TestProxyNeverPassesSpoofedIdentity(t *testing.T) {
	h, a := newProxy(t, withEnv("RP_PASS_ACCESS_TOKEN", "true"))
	h.signInVia("/")
	spoof := []struct{ k, v string }{
		{"X-Forwarded-User", "mallory"}, {"x-forwarded-user", "mallory2"}, {"X-FORWARDED-EMAIL", "m@evil.example"},
		{"X_Forwarded_User", "mallory3"}, {"x_forwarded_groups", "admins"}, {"X-Forwarded-Groups", "admins"},
		{"X-Forwarded-Preferred-Username", "root"}, {"Authorization", "Bearer forged"},
		{"Connection", "X-Forwarded-User, Authorization"}, {"Connection", "Cookie"}, {"Forwarded", "for=1.2.3.4;host=evil"},
		{"X-Forwarded-Host", "evil.example"}, {"X-Forwarded-Proto", "https"}, {"X-Forwarded-For", "6.6.6.6"},
	}
	req, _ := http.NewRequest("GET", h.base+"/page", nil)
	for _, s := range spoof {
		req.Header[s.k] = append(req.Header[s.k], s.v) // raw spellings, duplicates
	}
	req.Header.Add("X-Forwarded-User", "mallory4")
	if r := h.do(h.client, req); r.StatusCode != http.StatusOK {
		t.Fatalf("status %d", r.StatusCode)
	}
	got := a.last(t)
	for k, vs := range got.Header {
		joined := strings.Join(vs, ",")
		if strings.Contains(joined, "mallory") || strings.Contains(joined, "evil") || strings.Contains(joined, "forged") ||
			strings.Contains(joined, "6.6.6.6") || (strings.Contains(strings.ToLower(k), "group") && joined != "") {
			t.Errorf("a spoofed header reached the app: %s: %q", k, vs)
		}
	}
	if u := got.Header.Values("X-Forwarded-User"); len(u) != 1 || u[0] != "alice" {
		t.Errorf("X-Forwarded-User = %q", u)
	}
	if at := got.Header.Get("Authorization"); !strings.HasPrefix(at, "Bearer at-") {
		t.Errorf("Authorization = %q, want rp's Bearer access token", at)
	}
}

// TestProxyRemovesOtherProxiesIdentityHeaders: the headers other proxies
// use to tell their app who the user is, and the URL headers, never reach
// the app from a client, in any spelling; RP_PASS_CLIENT_HEADERS lets one through by
// name, exactly as the client sent it.
func TestProxyRemovesOtherProxiesIdentityHeaders(t *testing.T) {
	h, a := newProxy(t, withEnv("RP_PASS_CLIENT_HEADERS", "Cf-Access-Jwt-Assertion"))
	h.signInVia("/")
	req, _ := http.NewRequest("GET", h.base+"/page", nil)
	for _, s := range []struct{ k, v string }{
		{"Remote-User", "admin"}, {"REMOTE_USER", "admin"}, {"Remote.User", "admin"}, {"X-Remote-User", "admin"},
		{"X_Remote_User", "admin"}, {"X-Remote-Group", "system:masters"}, {"X-Auth-Request-Email", "mallory@evil.example"},
		{"x-auth-request-user", "mallory"}, {"X-Forwarded-Access-Token", "forged"}, {"X-Webauth-User", "admin"},
		{"X.Webauth.User", "admin"}, {"X-authentik-groups", "admins"}, {"X.Forwarded.User", "mallory"},
		{"Connection", "Remote-User"}, {"Cf-Access-Jwt-Assertion", "signed.jwt"},
		// Any punctuation for '-': lighttpd's CGI and FastCGI, and Apache
		// httpd before 2.4, read each of these as the name itself.
		{"X~Forwarded~User", "mallory"}, {"X-Forwarded+User", "mallory"}, {"X|Forwarded|Email", "mallory@evil.example"},
		{"Remote!User", "admin"}, {"X-Auth-Request~Email", "mallory@evil.example"}, {"X%Original%URL", "/admin/users"},
		{"X'Rewrite'Url", "/admin/users"}, {"X~Forwarded~Uri", "/admin/users"},
		// Kong's and APISIX's openid-connect plugins, kube-rbac-proxy.
		{"X-Userinfo", "forged"}, {"X-Id-Token", "forged"}, {"X-Access-Token", "forged"}, {"X-Remote-Groups", "admins"},
	} {
		req.Header[s.k] = append(req.Header[s.k], s.v) // raw spellings, duplicates
	}
	if r := h.do(h.client, req); r.StatusCode != http.StatusOK {
		t.Fatalf("status %d", r.StatusCode)
	}
	got := a.last(t)
	for k, vs := range got.Header {
		joined := strings.Join(vs, ",")
		if strings.Contains(joined, "admin") || strings.Contains(joined, "mallory") || strings.Contains(joined, "forged") {
			t.Errorf("a client's identity header reached the app: %s: %q", k, vs)
		}
	}
	if u := got.Header.Values("X-Forwarded-User"); len(u) != 1 || u[0] != "alice" {
		t.Errorf("X-Forwarded-User = %q", u)
	}
	if v := got.Header.Values("Cf-Access-Jwt-Assertion"); len(v) != 1 || v[0] != "signed.jwt" {
		t.Errorf("Cf-Access-Jwt-Assertion (RP_PASS_CLIENT_HEADERS) = %q, want the client's", v)
	}
}

// TestProxyDropsURLHeadersFromTrustedProxies: a trusted proxy that passes
// a client's X-Original-URL on does not make the app serve a path the
// rules never checked.
func TestProxyDropsURLHeadersFromTrustedProxies(t *testing.T) {
	h, a := newProxy(t, withEnv("RP_TRUSTED_PROXIES", "127.0.0.1"), withEnv("RP_PATH_RULES", "/admin=admins"))
	h.signInVia("/")
	req, _ := http.NewRequest("GET", h.base+"/public", nil)
	req.Header.Set("X-Original-URL", "/admin/users")
	req.Header.Set("X-Rewrite-URL", "/admin/users")
	req.Header.Set("X-Original-URI", "/admin/users")
	req.Header.Set("X-Forwarded-Prefix", "/kept")
	if r := h.do(h.client, req); r.StatusCode != http.StatusOK {
		t.Fatalf("status %d", r.StatusCode)
	}
	got := a.last(t)
	for k, vs := range got.Header {
		if strings.Contains(strings.Join(vs, ","), "/admin") {
			t.Errorf("%s: %q reached the app", k, vs)
		}
	}
	if v := got.Header.Get("X-Forwarded-Prefix"); v != "/kept" {
		t.Errorf("X-Forwarded-Prefix from the trusted proxy = %q, want it kept", v)
	}
}

func TestProxyPrefixAndRoutes(t *testing.T) {
	h, a := newProxy(t)
	// The app's /login and /profile are the app's; rp's are under /_rp.
	h.signInVia("/")
	for _, p := range []string{"/login", "/profile", "/logout", "/", "/_rpx", "/favicon.ico"} {
		if r := h.get(p); r.StatusCode != http.StatusOK || !strings.HasPrefix(r.body, "app page ") {
			t.Errorf("%s: %d %.80q; want the app's page", p, r.StatusCode, r.body)
		}
	}
	if r := h.get("/_rp/profile"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "alice") {
		t.Errorf("/_rp/profile: %d", r.StatusCode)
	}
	if r := h.get("/_rp/nothing"); r.StatusCode != http.StatusNotFound || strings.HasPrefix(r.body, "app page") {
		t.Errorf("/_rp/nothing: %d; want rp's 404", r.StatusCode)
	}
	if r := h.get("/_rp/static/style.css"); r.StatusCode != http.StatusOK {
		t.Errorf("/_rp/static/style.css: %d", r.StatusCode)
	}
	if r := h.get("/_rp/profile"); !strings.Contains(r.body, `href="/_rp/static/style.css"`) || !strings.Contains(r.body, `action="/_rp/logout"`) {
		t.Errorf("rp's pages link outside the prefix: %.600s", r.body)
	}
	// Logout under the prefix, to the provider and back to the prefixed URI.
	csrf := csrfRE.FindStringSubmatch(h.get("/_rp/logout").body)[1]
	end := h.expectRedirect(h.post("/_rp/logout", url.Values{"csrf_token": {csrf}}, map[string]string{"Origin": h.base}), http.StatusSeeOther)
	if q := mustURL(t, end).Query(); q.Get("post_logout_redirect_uri") != h.base+"/_rp/logged-out" {
		t.Errorf("post_logout_redirect_uri = %q", q.Get("post_logout_redirect_uri"))
	}
	before := len(a.requests())
	if r := h.browse("/page"); r.StatusCode != http.StatusFound {
		t.Errorf("after logout the app is reachable: %d", r.StatusCode)
	}
	if len(a.requests()) != before {
		t.Error("a request after logout reached the app")
	}
	if s := h.op.Scopes(); len(s) == 0 {
		t.Fatal("no authorization request")
	}
}

func TestProxyRedirectURIFollowsPrefix(t *testing.T) {
	h, _ := newProxy(t)
	login := h.expectRedirect(h.browse("/x"), http.StatusFound)
	auth := h.expectRedirect(h.get(login), http.StatusSeeOther)
	if got := mustURL(t, auth).Query().Get("redirect_uri"); got != h.base+"/_rp/callback" {
		t.Fatalf("redirect_uri = %q", got)
	}
}

func TestProxyWithoutPrefix(t *testing.T) {
	h, _ := newProxy(t, withEnv("RP_PATH_PREFIX", ""))
	loc := h.expectRedirect(h.browse("/"), http.StatusFound)
	if loc != h.base+"/login?return_to=%2F" {
		t.Fatalf("/ without a session goes to %q", loc)
	}
	h.signInVia("/")
	if r := h.get("/"); !strings.HasPrefix(r.body, "app page /") {
		t.Errorf("/ is not the app's: %.100q", r.body)
	}
	if r := h.get("/profile"); r.StatusCode != http.StatusOK || strings.HasPrefix(r.body, "app page") {
		t.Errorf("/profile is not rp's: %d %.80q", r.StatusCode, r.body)
	}
	if r := h.get("/profile/x"); !strings.HasPrefix(r.body, "app page") {
		t.Errorf("/profile/x is not the app's")
	}
}

func TestProxyAccessRules(t *testing.T) {
	h, a := newProxy(t, withEnv("RP_PATH_RULES", "/admin=admins"))
	h.signInVia("/")
	// "/;x%2Fy/admin" is //admin to Tomcat, which cuts path parameters
	// before decoding (found by FuzzAuth).
	for _, p := range []string{"/admin", "/admin/", "/admin/users", "/admin;jsessionid=1", "//admin", "/admin%2Fusers", "/;x%2Fy/admin"} {
		before := len(a.requests())
		r := h.browse(p)
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("%s for a non-admin: %d", p, r.StatusCode)
			continue
		}
		if !strings.Contains(r.body, "signed in as") || !strings.Contains(r.body, `action="/_rp/logout"`) || !strings.Contains(r.body, "admins") {
			t.Errorf("%s: the 403 page does not say who is signed in or offer to sign out: %.600s", p, r.body)
		}
		if len(a.requests()) != before {
			t.Errorf("%s reached the app", p)
		}
	}
	if r := h.browse("/a/../admin"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("/a/../admin: %d, want 400", r.StatusCode)
	}
	if r := h.browse("/administrator"); r.StatusCode != http.StatusOK {
		t.Errorf("/administrator: %d; the rule is for /admin", r.StatusCode)
	}

	admin, _ := newProxy(t, withEnv("RP_PATH_RULES", "/admin=admins"))
	admin.op.Set(func(k *testprovider.Knobs) { k.ExtraIDClaims = map[string]any{"groups": []string{"/admins", "staff"}} })
	admin.signInVia("/")
	if r := admin.browse("/admin/users"); r.StatusCode != http.StatusOK {
		t.Errorf("an admin gets %d on /admin/users", r.StatusCode)
	}

	domain, _ := newProxy(t, withEnv("RP_ALLOWED_EMAIL_DOMAINS", "corp.example"))
	domain.signInVia("/")
	if r := domain.browse("/"); r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "corp.example") {
		t.Errorf("a user of another email domain gets %d", r.StatusCode)
	}
}

func TestProxyStreamsUploadsAndUpgrades(t *testing.T) {
	h, _ := newProxy(t)
	h.signInVia("/")
	cookie := h.cookie(h.client)

	// Server-sent events: the first event arrives while the stream stays open.
	req, _ := http.NewRequest("GET", h.base+"/events", nil)
	req.AddCookie(cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	res.Body.Close()
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event: %q %v (buffered?)", line, err)
	}

	// A 32 MiB upload arrives whole.
	const size = 32 << 20
	body := io.LimitReader(zeroReader{}, size)
	req, _ = http.NewRequest("POST", h.base+"/upload", body)
	req.ContentLength = -1 // chunked, streamed
	req.AddCookie(cookie)
	up := h.do(http.DefaultClient, req)
	sum := sha256.Sum256(make([]byte, size))
	if up.StatusCode != http.StatusOK || up.body != fmt.Sprintf("%d %s", size, hex.EncodeToString(sum[:])) {
		t.Fatalf("upload: %d %q", up.StatusCode, up.body)
	}

	// WebSocket: the upgrade passes and bytes flow both ways.
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nCookie: %s=%s\r\n\r\n",
		strings.TrimPrefix(h.base, "http://"), cookie.Name, cookie.Value)
	br := bufio.NewReader(conn)
	status, _ := br.ReadString('\n')
	if !strings.HasPrefix(status, "HTTP/1.1 101") {
		t.Fatalf("upgrade answered %q", status)
	}
	for l, _ := br.ReadString('\n'); l != "\r\n" && l != ""; l, _ = br.ReadString('\n') {
	}
	fmt.Fprint(conn, "hello\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if echo, _ := br.ReadString('\n'); echo != "echo hello\n" {
		t.Fatalf("through the upgraded connection: %q", echo)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestProxyUpstreamDownAndSlow(t *testing.T) {
	h, a := newProxy(t, withEnv("RP_UPSTREAM_TIMEOUT", "300ms"))
	h.signInVia("/")
	r := h.browse("/slow")
	if r.StatusCode != http.StatusGatewayTimeout || !strings.Contains(r.body, "did not answer in time") {
		t.Fatalf("slow app: %d %.200q", r.StatusCode, r.body)
	}
	if r.Header.Get("Content-Security-Policy") == "" {
		t.Error("rp's error page lacks its page headers")
	}
	a.srv.Close()
	r = h.browse("/page")
	if r.StatusCode != http.StatusBadGateway || !strings.Contains(r.body, "could not be reached") {
		t.Fatalf("app down: %d %.200q", r.StatusCode, r.body)
	}
}

// TestProxyAndAuthWithTheStoreDown: a store that does not answer gives
// 503 pages on proxied requests and on /auth, never a crash or a pass.
func TestProxyAndAuthWithTheStoreDown(t *testing.T) {
	h, a := newProxy(t, withEnv("RP_SESSION_STORE", "redis://127.0.0.1:1/0"), withEnv("RP_SESSION_STORE_TIMEOUT", "200ms"))
	h.client = h.clientWithCookie(&http.Cookie{Name: "rp_session", Value: "a-session-that-cannot-be-read"})
	for _, p := range []string{"/page", "/_rp/auth"} {
		r := h.browse(p)
		if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.body, "Sessions cannot be read") {
			t.Errorf("%s with the store down: %d %.200q", p, r.StatusCode, r.body)
		}
	}
	if len(a.requests()) != 0 {
		t.Fatal("a request reached the app while sessions could not be read")
	}
}
