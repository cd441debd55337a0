package deploy

// The forward-auth snippets for real: nginx and Caddy (Debian's packages)
// run with deploy/forward-auth/nginx.conf and Caddyfile, their addresses
// changed to loopback ports, in front of an rp started in-process with
// rp-fwd's compose settings and a recording stand-in for whoami; Traefik,
// which Debian lacks, is a Go stand-in that asks rp exactly as Traefik v3's
// ForwardAuth middleware does, configured by deploy/forward-auth/traefik.yml.
// rp-app's compose settings (proxy mode) get the same browser walk-through
// without a proxy in front.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/app/apptest"
	"github.com/rp-project/rp/internal/testprovider"

	"github.com/rp-project/rp/internal/nginxconf"
)

// needBinary returns the path of a program the test runs, skipping the test
// without it (failing under CI=true, where .ci/run installs it).
func needBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI is set but %s is missing: .ci/run installs Debian's %s", name, pkg)
		}
		t.Skipf("%s is missing: install Debian's %s (apt-get install %s) to run this test with the real proxy", name, pkg, pkg)
	}
	return p
}

// --- the app: a stand-in for whoami that records what it is told ---

type appRequest struct {
	Method, URI, Host string
	Header            http.Header
}

type appRecorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []appRequest
}

func startApp(t *testing.T) *appRecorder {
	a := &appRecorder{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.reqs = append(a.reqs, appRequest{r.Method, r.RequestURI, r.Host, r.Header.Clone()})
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "the app answers %s %s\n", r.Method, r.RequestURI)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// take returns the requests the app had since the last take.
func (a *appRecorder) take() []appRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.reqs
	a.reqs = nil
	return out
}

func (a *appRecorder) addr() string { return a.srv.Listener.Addr().String() }

// --- rp, in-process, with a compose service's settings ---

// rpFor starts rp on ln with the settings of compose service name that
// describe what it does (prefix, cookie, rules, ...), and the test's
// provider, store and addresses instead of the compose network's.
func rpFor(t *testing.T, s *stack, name string, ln net.Listener, p *testprovider.Provider, baseURL string, extra map[string]string) {
	t.Helper()
	r := s.rpByName(name)
	env := map[string]string{}
	for _, k := range []string{"RP_PATH_PREFIX", "RP_SESSION_COOKIE_NAME", "RP_PATH_RULES", "RP_ALLOWED_GROUPS",
		"RP_ALLOWED_EMAIL_DOMAINS", "RP_GROUPS_CLAIM", "RP_PASS_ACCESS_TOKEN", "RP_SCOPES"} {
		if v, ok := r.env[k]; ok {
			env[k] = v
		}
	}
	if r.cfg.ForwardAuthSecret != "" {
		// From the compose secret file: the proxies send the same one.
		env["RP_FORWARD_AUTH_SECRET"] = r.cfg.ForwardAuthSecret
	}
	maps.Copy(env, map[string]string{
		"RP_ISSUER":           p.Issuer,
		"RP_DISCOVERY_URL":    p.DiscoveryURL,
		"RP_CLIENT_ID":        p.ClientID,
		"RP_CLIENT_SECRET":    p.ClientSecret,
		"RP_BASE_URL":         baseURL,
		"RP_SESSION_STORE":    "memory",
		"RP_ADDR":             ln.Addr().String(),
		"RP_LOG_LEVEL":        "debug",
		"RP_PROVIDER_TIMEOUT": "5s",
	})
	maps.Copy(env, extra)
	// Like Keycloak, the provider accepts the registered URIs only.
	prefix := env["RP_PATH_PREFIX"]
	p.Set(func(k *testprovider.Knobs) {
		k.RedirectURIs = []string{baseURL + prefix + "/callback"}
		k.PostLogoutRedirectURIs = []string{baseURL + prefix + "/logged-out"}
	})
	apptest.Serve(t, ln, env, nil)
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// --- real proxies ---

// proc is a proxy process run for one test.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startProc runs argv until the test ends and waits until port accepts
// connections. Its output goes to the test log when the test fails.
func startProc(t *testing.T, port int, env []string, argv ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(argv[0], argv[1:]...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", argv[0], err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(argv[0]), p.out)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited: %v\n%s", argv[0], p.cmd.ProcessState, p.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %d after 10s:\n%s", argv[0], port, p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort is a loopback port nothing listens on (for a proxy about to).
func freePort(t *testing.T) int { return closedPort(t) }

// renderNginx turns the compose nginx.conf into one for this machine: the
// proxy listens on port, rp-fwd and whoami are at rpAddr and appAddr, and
// logs, pid and temporary files go to dir.
func renderNginx(t *testing.T, s *stack, port int, rpAddr, appAddr, dir string) string {
	t.Helper()
	if s.fwdErr != nil {
		t.Fatal(s.fwdErr)
	}
	src, err := os.ReadFile(s.fwd.confPath)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := nginxconf.Parse(string(src))
	if err != nil {
		t.Fatal(err)
	}
	conf.Remove("user") // Debian's nginx has no user nginx; the test's user runs it
	conf.Set("pid", filepath.Join(dir, "nginx.pid"))
	conf.Set("error_log", filepath.Join(dir, "error.log"), "info")
	http := conf.All("http")[0]
	http.Set("access_log", filepath.Join(dir, "access.log"))
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		http.Set(d+"_temp_path", filepath.Join(dir, d))
	}
	rpHost := s.fwd.rpPass.Host
	appHost := s.fwd.appPass.Host
	replaced := 0
	for _, d := range conf.Walk() {
		switch d.Name {
		case "include":
			// The file compose mounts there (the forward-auth secret).
			d.Args[0] = s.fwd.includes[d.Args[0]]
		case "listen":
			d.Args = []string{"127.0.0.1:" + strconv.Itoa(port)}
		case "proxy_pass":
			u, _ := url.Parse(d.Args[0])
			switch u.Host {
			case rpHost:
				u.Host = rpAddr
			case appHost:
				u.Host = appAddr
			default:
				t.Fatalf("proxy_pass %s: neither rp (%s) nor the app (%s)", d.Args[0], rpHost, appHost)
			}
			d.Args[0] = u.String()
			replaced++
		}
	}
	if replaced != 3 {
		t.Fatalf("%d proxy_pass directives, want 3", replaced)
	}
	return conf.String()
}

// renderCaddyfile turns the Caddyfile into one for this machine.
func renderCaddyfile(t *testing.T, s *stack, port int, rpAddr, appAddr string) string {
	t.Helper()
	src, err := readSnippet("Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCaddyAuth(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(src, "\n")
	site := c.site.line - 1
	if !strings.HasSuffix(strings.TrimSpace(lines[site]), "{") {
		t.Fatalf("line %d: %q does not open the site block", site+1, lines[site])
	}
	lines[site] = "http://:" + strconv.Itoa(port) + " {\n\tbind 127.0.0.1"
	out := "{\n\tadmin off\n}\n" + strings.Join(lines, "\n")
	for from, to := range map[string]string{c.auth.args[0]: rpAddr, c.app.args[0]: appAddr} {
		re := regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(from) + `(\s|$)`)
		if !re.MatchString(out) {
			t.Fatalf("Caddyfile has no %s", from)
		}
		out = re.ReplaceAllString(out, "${1}"+to+"${2}")
	}
	return out
}

// --- a stand-in for Traefik v3 ---

// traefikShim routes and asks rp the way Traefik v3 does with
// traefik.yml: its entry point drops the X-Forwarded-* headers of clients
// it does not trust (forwardedHeaders.trustedIPs unset) and sets its own,
// the headers middleware sets or removes request headers, and ForwardAuth
// (pkg/middlewares/auth/forward.go) sends a GET to its address with the
// request's headers, hop-by-hop ones removed, and X-Forwarded-For, -Method,
// -Proto, -Host and -Uri from the request itself (trustForwardHeader
// false); on a 2xx it replaces authResponseHeaders on the request with
// the answer's, otherwise it sends the answer (Location resolved against
// the address) to the client.
type traefikShim struct {
	conf    *traefikDynamic
	address func(string) string // compose host:port to this machine's
	client  *http.Client
}

var (
	// Traefik's forwardedheaders middleware removes these from untrusted requests.
	traefikXHeaders = []string{"X-Forwarded-Proto", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Port",
		"X-Forwarded-Server", "X-Forwarded-Uri", "X-Forwarded-Method", "X-Forwarded-Prefix",
		"X-Forwarded-Tls-Client-Cert", "X-Forwarded-Tls-Client-Cert-Info", "X-Real-Ip"}
	// ForwardAuth's hop-by-hop headers.
	traefikHopHeaders = []string{"Connection", "Keep-Alive", "Te", "Trailers", "Transfer-Encoding", "Upgrade"}
)

func (s *traefikShim) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	clientIP, _, _ := net.SplitHostPort(req.RemoteAddr)
	// Entry point.
	for _, h := range traefikXHeaders {
		req.Header.Del(h)
	}
	_, port, err := net.SplitHostPort(req.Host)
	if err != nil {
		port = "80"
	}
	req.Header.Set("X-Forwarded-Proto", "http")
	req.Header.Set("X-Forwarded-Host", req.Host)
	req.Header.Set("X-Forwarded-Port", port)
	req.Header.Set("X-Forwarded-Server", "traefik")
	req.Header.Set("X-Real-Ip", clientIP)

	// Router: the highest priority whose PathPrefix matches.
	var router *traefikRouter
	for _, r := range s.conf.HTTP.Routers {
		m := pathPrefixRule.FindStringSubmatch(r.Rule)
		if m != nil && strings.HasPrefix(req.URL.Path, m[1]) && (router == nil || r.Priority > router.Priority) {
			router = &r
		}
	}
	if router == nil {
		http.NotFound(w, req)
		return
	}
	for _, name := range router.Middlewares {
		mw := s.conf.HTTP.Middlewares[name]
		switch {
		case mw.Headers != nil:
			for h, v := range mw.Headers.CustomRequestHeaders {
				if v == "" {
					req.Header.Del(h)
				} else {
					req.Header.Set(h, v)
				}
			}
		case mw.ForwardAuth != nil:
			if !s.forwardAuth(w, req, mw.ForwardAuth) {
				return
			}
		}
	}
	target, _ := s.conf.serviceURL(router.Service)
	target.Host = s.address(target.Host)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = nil
	proxy.ServeHTTP(w, req) // passes the Host header, appends X-Forwarded-For
}

// forwardAuth asks the address; it reports whether the request goes on.
func (s *traefikShim) forwardAuth(w http.ResponseWriter, req *http.Request, fa *traefikForwardAuth) bool {
	address, _ := url.Parse(fa.Address)
	address.Host = s.address(address.Host)
	fwd, _ := http.NewRequestWithContext(req.Context(), http.MethodGet, address.String(), nil)
	fwd.Header = req.Header.Clone()
	for _, c := range req.Header.Values("Connection") {
		for _, h := range strings.Split(c, ",") {
			fwd.Header.Del(strings.TrimSpace(h))
		}
	}
	for _, h := range traefikHopHeaders {
		fwd.Header.Del(h)
	}
	trust := fa.TrustForwardHeader != nil && *fa.TrustForwardHeader
	if trust {
		panic("the stand-in does trustForwardHeader false only")
	}
	clientIP, _, _ := net.SplitHostPort(req.RemoteAddr)
	fwd.Header.Set("X-Forwarded-For", clientIP)
	fwd.Header.Set("X-Forwarded-Method", req.Method)
	fwd.Header.Set("X-Forwarded-Proto", "http")
	fwd.Header.Set("X-Forwarded-Host", req.Host)
	fwd.Header.Set("X-Forwarded-Uri", req.URL.RequestURI())

	resp, err := s.client.Do(fwd)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return false
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		maps.Copy(w.Header(), resp.Header)
		for _, h := range traefikHopHeaders {
			w.Header().Del(h)
		}
		if loc, err := resp.Location(); err == nil {
			w.Header().Set("Location", loc.String())
		} else if !errors.Is(err, http.ErrNoLocation) {
			w.WriteHeader(http.StatusInternalServerError)
			return false
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
		return false
	}
	for _, h := range fa.AuthResponseHeaders {
		k := http.CanonicalHeaderKey(h)
		req.Header.Del(k)
		if v := resp.Header[k]; len(v) > 0 {
			req.Header[k] = slices.Clone(v)
		}
	}
	req.RequestURI = req.URL.RequestURI()
	return true
}

// --- a browser ---

// browser is a cookie-keeping HTTP client that follows no redirect by
// itself and sends, to every request of the app's host, headers a
// malicious client would: made-up identity and forwarded headers.
type browser struct {
	t      *testing.T
	c      *http.Client
	origin string      // the app's (and rp's) origin
	extra  http.Header // added to every request while set
}

func newBrowser(t *testing.T, origin string) *browser {
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		// localhost is 127.0.0.1 here, whatever the resolver says.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil && host == "localhost" {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return dialer.DialContext(ctx, "tcp4", addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, origin: origin, c: &http.Client{
		Jar: jar, Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// exchange is one request and its answer.
type exchange struct {
	req    *http.Request
	status int
	header http.Header
	body   string
}

func (e *exchange) String() string {
	body := e.body
	if len(body) > 600 {
		body = body[:600] + "..."
	}
	var hdr []string
	for _, k := range []string{"Location", "Www-Authenticate", "Content-Type", "Set-Cookie"} {
		for _, v := range e.header.Values(k) {
			hdr = append(hdr, k+": "+v)
		}
	}
	return fmt.Sprintf("%s %s (request headers %v)\n  -> %d %s\n  %s", e.req.Method, e.req.URL, e.req.Header, e.status, strings.Join(hdr, "; "), strings.TrimSpace(body))
}

func (e *exchange) location(t *testing.T) *url.URL {
	t.Helper()
	loc := e.header.Get("Location")
	if loc == "" {
		t.Fatalf("no Location:\n%s", e)
	}
	u, err := e.req.URL.Parse(loc)
	if err != nil {
		t.Fatalf("Location %q: %v\n%s", loc, err, e)
	}
	return u
}

// spoofHeaders are what a malicious client adds: identity headers in several
// spellings, and a description of another request.
func spoofHeaders(h http.Header, uri string) {
	h["X-Forwarded-User"] = []string{"mallory"}
	h["x-forwarded-email"] = []string{"mallory@evil.example"}
	h["X-Forwarded-Preferred-Username"] = []string{"mallory", "eve"}
	h["X-Forwarded-Groups"] = []string{"admins"}
	h["X_Forwarded_User"] = []string{"mallory"}
	h["X_Forwarded_Groups"] = []string{"admins"}
	// Other products' identity headers that the snippets clear.
	h["Remote-User"] = []string{"mallory"}
	h["remote_user"] = []string{"mallory"}
	h["X-Remote-User"] = []string{"mallory"}
	h["X-Webauth-User"] = []string{"mallory"}
	h["X_Webauth_User"] = []string{"mallory"}
	h["X-Forwarded-Uri"] = []string{uri}
	h["X-Forwarded-Method"] = []string{"GET"}
	h["X-Forwarded-Host"] = []string{"evil.example"}
	h["X-Forwarded-Proto"] = []string{"https"}
	h["Authorization"] = []string{"Bearer forged"}
}

type reqKind int

const (
	navigation reqKind = iota // a page the user opens
	api                       // fetch() of JSON
)

func (b *browser) do(kind reqKind, method, rawURL string, form url.Values) *exchange {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) deploy-test")
	switch kind {
	case navigation:
		req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		req.Header.Set("Sec-Fetch-Mode", "navigate")
		req.Header.Set("Sec-Fetch-Dest", "document")
		req.Header.Set("Upgrade-Insecure-Requests", "1")
	case api:
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Sec-Fetch-Mode", "cors")
		req.Header.Set("Sec-Fetch-Dest", "empty")
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.origin)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if strings.HasPrefix(rawURL, b.origin+"/") {
		// The opposite of what the request is: a path rule must not
		// follow the client's word.
		other := "/admin/spoofed"
		if strings.Contains(rawURL, "/admin") {
			other = "/hello"
		}
		spoofHeaders(req.Header, other)
	}
	for k, v := range b.extra {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return &exchange{req: req, status: resp.StatusCode, header: resp.Header, body: string(rb)}
}

// follow follows redirects from e with GET navigations until an answer
// that is not one; it returns every exchange, e first.
func (b *browser) follow(e *exchange) []*exchange {
	b.t.Helper()
	chain := []*exchange{e}
	for len(chain) < 10 {
		last := chain[len(chain)-1]
		switch last.status {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect:
			chain = append(chain, b.do(navigation, http.MethodGet, last.location(b.t).String(), nil))
		default:
			return chain
		}
	}
	b.t.Fatalf("more than 10 redirects:\n%s", describe(chain))
	return nil
}

func describe(chain []*exchange) string {
	var parts []string
	for _, e := range chain {
		parts = append(parts, e.String())
	}
	return strings.Join(parts, "\n")
}

// --- the walk-through ---

// front is what the browser talks to: a proxy doing forward auth, or rp in
// proxy mode.
type front struct {
	name      string
	base      string // RP_BASE_URL: the app's origin
	prefix    string // RP_PATH_PREFIX
	cookie    string // RP_SESSION_COOKIE_NAME
	proxyMode bool   // rp itself, with RP_UPSTREAM
	passToken bool   // RP_PASS_ACCESS_TOKEN: the app gets the access token
}

// identity is what the app must be told about a user; token: the access
// token rp got for the user, as Authorization: Bearer.
type identity struct {
	user, email, username, groups string
	token                         bool
}

// wantIdentity checks the identity headers the app got, in any spelling: rp's
// values, once each, and nothing the client made up.
func wantIdentity(t *testing.T, r appRequest, want identity) {
	t.Helper()
	got := map[string][]string{}
	for k, v := range r.Header {
		norm := http.CanonicalHeaderKey(strings.ReplaceAll(strings.ToLower(k), "_", "-"))
		if slices.Contains(identityHeaders, norm) {
			got[k] = append(got[k], v...)
		}
	}
	exp := map[string][]string{}
	for h, v := range map[string]string{"X-Forwarded-User": want.user, "X-Forwarded-Email": want.email,
		"X-Forwarded-Preferred-Username": want.username, "X-Forwarded-Groups": want.groups} {
		if v != "" {
			exp[h] = []string{v}
		}
	}
	for k, v := range r.Header {
		norm := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(k))
		if slices.Contains([]string{"remote-user", "x-remote-user", "x-webauth-user"}, norm) && !slices.Equal(v, []string{""}) {
			t.Errorf("%s %s: the app got %s: %q, another product's identity header the client made up", r.Method, r.URI, k, v)
		}
	}
	// An empty header and no header tell the app the same.
	for k, v := range got {
		if slices.Equal(v, []string{""}) {
			delete(got, k)
		}
	}
	if !maps.EqualFunc(got, exp, slices.Equal) {
		t.Errorf("%s %s: the app got identity headers %q, want %q: rp's answer, and nothing the client sent", r.Method, r.URI, got, exp)
	}
	if v := r.Header.Values(forwardAuthSecretHeader); len(v) > 0 {
		t.Errorf("%s %s: the app got %s: the proxy's proof must go to rp alone", r.Method, r.URI, forwardAuthSecretHeader)
	}
	// The test provider's access tokens start with at-; the client sends
	// Bearer forged.
	if az := r.Header.Values("Authorization"); want.token && (len(az) != 1 || !strings.HasPrefix(az[0], "Bearer at-")) {
		t.Errorf("%s %s: the app got Authorization %q, want rp's Bearer access token, once", r.Method, r.URI, az)
	}
}

// noTokenForBrowsers signs a browser in through f and has it call rp's
// /auth itself, through the proxy, as a script on the app's pages could:
// with made-up X-Forwarded-* headers (spoofHeaders), and without, with an
// empty or with a wrong X-RP-Forward-Auth-Secret. Whatever the proxy
// answers, the access token is not in it.
func noTokenForBrowsers(t *testing.T, f front, app *appRecorder) {
	b := newBrowser(t, f.base)
	chain := b.follow(b.do(navigation, http.MethodGet, f.base+"/hello", nil))
	if last := chain[len(chain)-1]; last.status != http.StatusOK {
		t.Fatalf("sign-in:\n%s", describe(chain))
	}
	app.take()
	for _, secret := range []*string{nil, new(string), ptr("Wr0ngSecretWr0ngSecretWr0ngSecretXYZ12345=")} {
		for _, path := range []string{"/auth", "/auth?status=401", "/auth/", "//auth", "/%61uth"} {
			b.extra = http.Header{}
			if secret != nil {
				b.extra.Set(forwardAuthSecretHeader, *secret)
			}
			e := b.do(api, http.MethodGet, f.base+f.prefix+path, nil)
			b.extra = nil
			if az := e.header.Values("Authorization"); len(az) > 0 || strings.Contains(e.body, "Bearer at-") {
				t.Errorf("a browser's own call to %s%s (secret %v) got the access token: Authorization %q\n%s", f.prefix, path, secret != nil, az, e)
			}
		}
	}
	for _, r := range app.take() {
		t.Errorf("the app got %s %s from a call to rp's /auth", r.Method, r.URI)
	}
}

func ptr[T any](v T) *T { return &v }

// walkThrough runs a browser and an API client through f: sign-in,
// identity at the app, made-up headers, a path rule, logout, and a second
// user in the rule's group.
func walkThrough(t *testing.T, f front, p *testprovider.Provider, app *appRecorder) {
	b := newBrowser(t, f.base)
	app.take()

	// Not signed in: a page goes to rp's sign-in, keeping where it was going.
	e := b.do(navigation, http.MethodGet, f.base+"/hello?x=1&y=%2Fz", nil)
	if e.status != http.StatusFound && e.status != http.StatusSeeOther {
		t.Fatalf("a page without a session: want a redirect to %s/login\n%s", f.prefix, e)
	}
	login := e.location(t)
	if got := login.Scheme + "://" + login.Host; got != f.base || login.Path != f.prefix+"/login" {
		t.Fatalf("a page without a session goes to %s, want %s%s/login\n%s", login, f.base, f.prefix, e)
	}
	if rt := login.Query().Get("return_to"); rt != "/hello?x=1&y=%2Fz" {
		t.Errorf("return_to=%q, want /hello?x=1&y=%%2Fz (the page asked for, not the client's X-Forwarded-Uri)\n%s", rt, e)
	}
	if got := app.take(); len(got) > 0 {
		t.Errorf("the app got %d request(s) without a session: %+v", len(got), got)
	}

	// Not signed in: API calls get 401, and never reach the app.
	for _, c := range []struct{ method, path string }{{"GET", "/api/items"}, {"POST", "/api/items"}, {"HEAD", "/hello"}} {
		var form url.Values
		if c.method == "POST" {
			form = url.Values{"a": {"b"}}
		}
		e := b.do(api, c.method, f.base+c.path, form)
		if e.status != http.StatusUnauthorized {
			t.Errorf("an API %s without a session: want 401\n%s", c.method, e)
		} else if !strings.HasPrefix(e.header.Get("WWW-Authenticate"), "Cookie ") {
			t.Errorf("an API %s without a session: want rp's WWW-Authenticate: Cookie ...\n%s", c.method, e)
		}
		if !f.proxyMode && e.header.Get("Location") != "" {
			t.Errorf("an API %s without a session: Location %q: not a redirect\n%s", c.method, e.header.Get("Location"), e)
		}
	}
	if got := app.take(); len(got) > 0 {
		t.Errorf("the app got %d request(s) without a session: %+v", len(got), got)
	}

	// Sign in as alice (in no group): the provider, rp's callback, and back.
	chain := b.follow(b.do(navigation, http.MethodGet, login.String(), nil))
	var sawProvider bool
	for _, e := range chain {
		if strings.HasPrefix(e.req.URL.String(), p.Issuer) {
			sawProvider = true
			if ru := e.req.URL.Query().Get("redirect_uri"); ru != f.base+f.prefix+"/callback" {
				t.Errorf("redirect_uri %q, want %s%s/callback", ru, f.base, f.prefix)
			}
		}
	}
	last := chain[len(chain)-1]
	if !sawProvider || last.status != http.StatusOK || last.req.URL.String() != f.base+"/hello?x=1&y=%2Fz" {
		t.Fatalf("sign-in: want the provider, then the page asked for (%s/hello?x=1&y=%%2Fz) from the app:\n%s", f.base, describe(chain))
	}
	got := app.take()
	if len(got) != 1 || got[0].URI != "/hello?x=1&y=%2Fz" || got[0].Method != "GET" {
		t.Fatalf("after sign-in the app got %+v, want GET /hello?x=1&y=%%2Fz once", got)
	}
	alice := identity{user: "alice", email: "alice@example.com", username: "alice", token: f.passToken}
	wantIdentity(t, got[0], alice)
	cookies := strings.Join(got[0].Header.Values("Cookie"), "; ")
	if f.proxyMode && strings.Contains(cookies, f.cookie+"=") {
		t.Errorf("the app got rp's cookie %s: Cookie %q", f.cookie, cookies)
	}

	// Signed in: pages and API calls reach the app, as alice only.
	for _, c := range []struct {
		kind   reqKind
		method string
	}{{api, "GET"}, {api, "POST"}, {navigation, "GET"}} {
		var form url.Values
		if c.method == "POST" {
			form = url.Values{"a": {"b"}}
		}
		e := b.do(c.kind, c.method, f.base+"/api/items?page=2", form)
		got := app.take()
		if e.status != http.StatusOK || len(got) != 1 {
			t.Errorf("signed in, %s /api/items: want the app's 200, the app got %d request(s)\n%s", c.method, len(got), e)
			continue
		}
		if got[0].Method != c.method || got[0].URI != "/api/items?page=2" {
			t.Errorf("the app got %s %s, want %s /api/items?page=2", got[0].Method, got[0].URI, c.method)
		}
		wantIdentity(t, got[0], alice)
	}

	// A path rule: /admin needs the group admins, whatever the client says
	// the request is.
	e = b.do(navigation, http.MethodGet, f.base+"/admin/panel", nil)
	if e.status != http.StatusForbidden {
		t.Errorf("alice (no group) at /admin/panel: want 403 (RP_PATH_RULES /admin=admins)\n%s", e)
	}
	if got := app.take(); len(got) > 0 {
		t.Errorf("the app got %s %s for alice, who is not in admins", got[0].Method, got[0].URI)
	}
	// Other spellings of the same path must not slip past the rule: the
	// app may well read them as /admin/panel.
	for _, path := range []string{"//admin/panel", "/admin//panel", "/%61dmin/panel", "/admin%2Fpanel",
		"/x/../admin/panel", "/./admin/panel", "/x/%2e%2e/admin/panel", "/admin/"} {
		e := b.do(navigation, http.MethodGet, f.base+path, nil)
		for _, r := range app.take() {
			if clean := cleanPath(r.URI); clean == "/admin" || strings.HasPrefix(clean, "/admin/") {
				t.Errorf("alice (no group) asked %s: the app got %s %s (%s), past RP_PATH_RULES /admin=admins\n%s", path, r.Method, r.URI, clean, e)
			}
		}
	}

	// Logout through rp's page on the app's host.
	e = b.do(navigation, http.MethodGet, f.base+f.prefix+"/logout", nil)
	m := regexp.MustCompile(`<form method="post" action="([^"]*)">\s*<input type="hidden" name="csrf_token" value="([^"]+)">`).FindStringSubmatch(e.body)
	if e.status != http.StatusOK || m == nil {
		t.Fatalf("logout page: want 200 with the logout form\n%s", e)
	}
	if m[1] != f.prefix+"/logout" {
		t.Errorf("the logout form posts to %q, want %s/logout", m[1], f.prefix)
	}
	action, _ := url.Parse(f.base)
	chain = b.follow(b.do(navigation, http.MethodPost, action.ResolveReference(&url.URL{Path: m[1]}).String(), url.Values{"csrf_token": {m[2]}}))
	last = chain[len(chain)-1]
	if last.status != http.StatusOK || last.req.URL.Path != f.prefix+"/logged-out" || len(p.Logouts()) == 0 {
		t.Fatalf("logout: want the provider's end-session, then %s/logged-out:\n%s", f.prefix, describe(chain))
	}
	if !strings.Contains(last.body, "signed out here and at your organisation's sign-in service") {
		t.Errorf("logged-out page does not confirm the provider's logout:\n%s", last)
	}
	if plr := p.Logouts()[len(p.Logouts())-1].Get("post_logout_redirect_uri"); plr != f.base+f.prefix+"/logged-out" {
		t.Errorf("post_logout_redirect_uri %q, want %s%s/logged-out", plr, f.base, f.prefix)
	}
	e = b.do(navigation, http.MethodGet, f.base+"/hello", nil)
	if (e.status != http.StatusFound && e.status != http.StatusSeeOther) || e.location(t).Path != f.prefix+"/login" {
		t.Errorf("after logout a page must go to sign-in again\n%s", e)
	}
	if got := app.take(); len(got) > 0 {
		t.Errorf("the app got %s %s after logout", got[0].Method, got[0].URI)
	}

	// bob, in admins: /admin passes, with his groups.
	p.Set(func(k *testprovider.Knobs) {
		k.Subject = "bob"
		k.ExtraIDClaims = map[string]any{"groups": []string{"admins", "users"}}
	})
	t.Cleanup(func() {
		p.Set(func(k *testprovider.Knobs) { k.Subject, k.ExtraIDClaims = "", nil })
	})
	chain = b.follow(b.do(navigation, http.MethodGet, f.base+"/admin/panel", nil))
	last = chain[len(chain)-1]
	got = app.take()
	if last.status != http.StatusOK || len(got) != 1 || got[0].URI != "/admin/panel" {
		t.Fatalf("bob (admins) signing in at /admin/panel: want the app's page; the app got %+v\n%s", got, describe(chain))
	}
	wantIdentity(t, got[0], identity{user: "bob", email: "bob@example.com", username: "bob", groups: "admins,users", token: f.passToken})
}

// --- the tests ---

// forwardAuthSetup starts the provider, the app and rp with rp-fwd's
// settings, behind a proxy on port.
func forwardAuthSetup(t *testing.T, s *stack, port int) (front, *testprovider.Provider, *appRecorder, string) {
	p := testprovider.New(t)
	app := startApp(t)
	ln := listenLoopback(t)
	base := "http://localhost:" + strconv.Itoa(port)
	r := s.rpByName(rpFwdService)
	// The proxies connect from 127.0.0.1.
	rpFor(t, s, rpFwdService, ln, p, base, map[string]string{"RP_TRUSTED_PROXIES": "127.0.0.1"})
	return front{name: rpFwdService, base: base, prefix: r.env["RP_PATH_PREFIX"], cookie: r.env["RP_SESSION_COOKIE_NAME"],
		passToken: r.cfg.PassAccessToken}, p, app, ln.Addr().String()
}

func TestNginxForwardAuth(t *testing.T) {
	t.Parallel()
	nginx := needBinary(t, "nginx", "nginx-light")
	s := loadStack(t)
	port := freePort(t)
	f, p, app, rpAddr := forwardAuthSetup(t, s, port)
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(renderNginx(t, s, port, rpAddr, app.addr(), dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginx, "-t", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	startProc(t, port, nil, nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf, "-g", "daemon off; master_process off;")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error.log:\n%s", b)
		}
	})
	walkThrough(t, f, p, app)
	noTokenForBrowsers(t, f, app)

	// The question's location is nginx's own.
	b := newBrowser(t, f.base)
	if e := b.do(navigation, http.MethodGet, f.base+f.prefix+"/auth", nil); e.status != http.StatusNotFound {
		t.Errorf("%s/auth from outside: want nginx's 404 (location is internal)\n%s", f.prefix, e)
	}
}

func TestCaddyForwardAuth(t *testing.T) {
	t.Parallel()
	caddy := needBinary(t, "caddy", "caddy")
	s := loadStack(t)
	port := freePort(t)
	f, p, app, rpAddr := forwardAuthSetup(t, s, port)
	dir := t.TempDir()
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, []byte(renderCaddyfile(t, s, port, rpAddr, app.addr())), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + dir, "XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"RP_FORWARD_AUTH_SECRET=" + s.fwdProxyEnv("RP_FORWARD_AUTH_SECRET")}
	startProc(t, port, env, caddy, "run", "--config", conf, "--adapter", "caddyfile")
	walkThrough(t, f, p, app)
	noTokenForBrowsers(t, f, app)
}

// TestTraefikForwardAuth asks rp exactly as Traefik v3's ForwardAuth does,
// configured by traefik.yml (Debian has no Traefik).
func TestTraefikForwardAuth(t *testing.T) {
	t.Parallel()
	s := loadStack(t)
	src, err := readSnippet("traefik.yml")
	if err != nil {
		t.Fatal(err)
	}
	conf, err := parseTraefik([]byte(src), s.fwdProxyEnv)
	if err != nil {
		t.Fatal(err)
	}
	ln := listenLoopback(t)
	port := ln.Addr().(*net.TCPAddr).Port
	f, p, app, rpAddr := forwardAuthSetup(t, s, port)
	r := s.rpByName(rpFwdService)
	_, rpPort, _ := net.SplitHostPort(r.cfg.Addr)
	appURL, _ := url.Parse("http://" + whoamiService + ":" + whoamiPort)
	shim := &traefikShim{conf: conf, client: &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, address: func(hostPort string) string {
		switch hostPort {
		case net.JoinHostPort(rpFwdService, rpPort):
			return rpAddr
		case appURL.Host:
			return app.addr()
		}
		t.Errorf("traefik.yml names %s, neither rp-fwd nor whoami", hostPort)
		return hostPort
	}}
	srv := &http.Server{Handler: shim}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	walkThrough(t, f, p, app)
	noTokenForBrowsers(t, f, app)
}

// TestProxyModeApp walks through rp-app's settings: rp itself in front of
// the app.
func TestProxyModeApp(t *testing.T) {
	t.Parallel()
	s := loadStack(t)
	p := testprovider.New(t)
	app := startApp(t)
	ln, base := apptest.Listen(t, "localhost")
	r := s.rpByName(rpAppService)
	rpFor(t, s, rpAppService, ln, p, base, map[string]string{"RP_UPSTREAM": app.srv.URL})
	walkThrough(t, front{name: rpAppService, base: base, prefix: r.env["RP_PATH_PREFIX"], cookie: r.env["RP_SESSION_COOKIE_NAME"], proxyMode: true,
		passToken: r.cfg.PassAccessToken}, p, app)
}

// TestForwardAuthTrust checks that rp believes X-Forwarded-* from
// RP_TRUSTED_PROXIES only, and only with RP_FORWARD_AUTH_SECRET: the same
// question from another loopback address, or from the trusted one without
// the secret, is refused under a path rule and gets no token.
func TestForwardAuthTrust(t *testing.T) {
	t.Parallel()
	s := loadStack(t)
	ln := listenLoopback(t)
	port := ln.Addr().(*net.TCPAddr).Port
	f, _, app, rpAddr := forwardAuthSetup(t, s, port)
	// A signed-in browser, through the Traefik stand-in.
	src, _ := readSnippet("traefik.yml")
	conf, err := parseTraefik([]byte(src), s.fwdProxyEnv)
	if err != nil {
		t.Fatal(err)
	}
	_, rpPort, _ := net.SplitHostPort(s.rpByName(rpFwdService).cfg.Addr)
	shim := &traefikShim{conf: conf, client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		address: func(hostPort string) string {
			if hostPort == net.JoinHostPort(rpFwdService, rpPort) {
				return rpAddr
			}
			return app.addr()
		}}
	srv := &http.Server{Handler: shim}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	b := newBrowser(t, f.base)
	chain := b.follow(b.do(navigation, http.MethodGet, f.base+"/hello", nil))
	if last := chain[len(chain)-1]; last.status != http.StatusOK {
		t.Fatalf("sign-in:\n%s", describe(chain))
	}
	u, _ := url.Parse(f.base)
	var cookie string
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == f.cookie {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		t.Fatalf("no cookie %s after sign-in", f.cookie)
	}

	secret := s.rpByName(rpFwdService).cfg.ForwardAuthSecret
	ask := func(from, proof string) *exchange {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest(http.MethodGet, "http://"+rpAddr+f.prefix+"/auth", nil)
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Accept", "text/html")
		req.Header.Set("X-Forwarded-Method", "GET")
		req.Header.Set("X-Forwarded-Proto", "http")
		req.Header.Set("X-Forwarded-Host", u.Host)
		req.Header.Set("X-Forwarded-Uri", "/hello")
		if proof != "" {
			req.Header.Set(forwardAuthSecretHeader, proof)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Skipf("cannot ask from %s here: %v", from, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return &exchange{req: req, status: resp.StatusCode, header: resp.Header, body: string(body)}
	}
	if secret == "" {
		t.Fatalf("%s has no RP_FORWARD_AUTH_SECRET", rpFwdService)
	}
	e := ask("127.0.0.1", secret)
	if e.status != http.StatusOK || e.header.Get("X-Forwarded-User") != "alice" {
		t.Errorf("from the trusted proxy with the secret: want 200 with X-Forwarded-User alice\n%s", e)
	}
	if az := e.header.Get("Authorization"); !strings.HasPrefix(az, "Bearer at-") {
		t.Errorf("from the trusted proxy with the secret: Authorization %q, want the access token (RP_PASS_ACCESS_TOKEN)\n%s", az, e)
	}
	// A load balancer that rp trusts, passing a script's request with
	// made-up X-Forwarded-* headers: not the proxy's without the secret.
	for _, proof := range []string{"", "Wr0ngSecretWr0ngSecretWr0ngSecretXYZ12345="} {
		if e := ask("127.0.0.1", proof); e.status != http.StatusForbidden || e.header.Get("X-Forwarded-User") != "" || e.header.Get("Authorization") != "" {
			t.Errorf("from the trusted address without the secret (%q), RP_PATH_RULES set: want 403 without identity or token (its X-Forwarded-Uri is not believed)\n%s", proof, e)
		}
	}
	if e := ask("127.0.0.3", secret); e.status != http.StatusForbidden || e.header.Get("X-Forwarded-User") != "" || e.header.Get("Authorization") != "" {
		t.Errorf("from an untrusted address with RP_PATH_RULES set: want 403 without identity (its X-Forwarded-Uri is not believed)\n%s", e)
	}
}

// cleanPath is how a lenient app may read a request URI's path: decoded,
// slashes merged, dot segments resolved.
func cleanPath(uri string) string {
	p, _, _ := strings.Cut(uri, "?")
	if d, err := url.PathUnescape(p); err == nil {
		p = d
	}
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	return path.Clean("/" + p)
}
