package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/rp-project/rp/internal/testprovider"
)

// The proxy scenario: a signed-in user's requests through rp in proxy mode
// (RP_UPSTREAM) on each session store, against three baselines: the
// upstream alone, the standard library's reverse proxy with nothing added,
// and oauth2-proxy with its cookie sessions.

// proxyEnv is what the proxy scenario's targets share.
type proxyEnv struct {
	upstream     *Proc
	upstreamAddr string
	op           *testprovider.Provider
	statsProbes  int64 // connections upstreamConns opened itself
}

func proxyScenario() *Scenario {
	env := &proxyEnv{}
	sc := &Scenario{
		Name:  "proxy",
		Title: "authenticated requests through rp in proxy mode",
		About: "Every request is `GET /` with the signed-in user's cookie, answered by the upstream with a fixed 100-byte body. " +
			"The upstream and the bare proxy are rpbench's own binary run again as processes of their own (net/http servers). " +
			"rp is `go build ./cmd/rp` run with RP_* settings (everything else at its defaults: request log at info, written to a file; " +
			"idle timeout 1h; but RP_SHUTDOWN_TIMEOUT=1s, so that it stops at once between targets). The OpenID provider is `internal/testprovider`, in the rpbench process: it approves every sign-in at once " +
			"and is not on the measured path (rp and oauth2-proxy verify the session cookie without it).",
		Baselines: []Baseline{{"bare", "× bare proxy"}, {"oauth2-proxy", "× oauth2-proxy"}},
		Goals: []Goal{
			{"memory", "bare", 0.7}, {"memory", "oauth2-proxy", 2.5},
			{"sqlite", "bare", 0.7}, {"sqlite", "oauth2-proxy", 2.5},
			{"redis", "bare", 0.5},
		},
		Caveats: []string{
			"One machine runs everything: the load generator, the server under test, the upstream and, for Redis and PostgreSQL, the store server share its CPUs. " +
				"A proxy's req/s is therefore also bounded by the CPU the upstream and the load generator take per request, the same for every proxy: " +
				"throughput ratios between proxies are smaller than the ratios of their own costs (the server CPU per request column). " +
				"Even the bare proxy, which only proxies, is bounded this way: its × oauth2-proxy ratio is about as far as a proxy built on net/http gets here, " +
				"which leaves the ≥ 2.5× oauth2-proxy target little margin.",
			"oauth2-proxy reaches the upstream through Go's default transport, which keeps at most 2 idle connections per host: under 64 concurrent requests " +
				"it opens a new connection to the upstream for most requests (the connections column). That is how oauth2-proxy v7.15.6 behaves " +
				"(no setting changes it), so it is measured as it is; it also costs the upstream more CPU per request. rp and the bare proxy keep their connections.",
			"oauth2-proxy is run with --code-challenge-method=S256 and --insecure-oidc-skip-nonce=false besides the settings listed under Targets, because the test provider " +
				"requires PKCE and a nonce; neither is used on a request with a session cookie.",
			"Both rp and oauth2-proxy write one log line per request (their defaults), to a file.",
			"rp's memory and SQLite stores answer repeated reads of a session from an in-process cache (rp is the only writer of those stores); " +
				"Redis and PostgreSQL are asked on every request, one round trip each.",
			"The machine is a shared virtual machine: other jobs' CPU use shows in the other processes column, and windows where it exceeded 10% were measured again. " +
				"Between runs, req/s moves by 10–20%; the ratios within one run move less.",
		},
		Setup: env.setup,
	}
	sc.Targets = []*Target{
		{Name: "direct", Label: "upstream direct", About: "the upstream alone, no proxy: the ceiling.",
			Start: env.startDirect},
		{Name: "bare", Label: "bare proxy", About: "`httputil.ReverseProxy` (Rewrite: SetURL and SetXForwarded) with a transport keeping up to 1024 idle connections per host; no authentication.",
			Start: env.startBare},
	}
	for _, s := range stores {
		s := s
		about := map[string]string{
			"memory":   "rp in proxy mode, `RP_SESSION_STORE=memory`.",
			"sqlite":   "rp in proxy mode, `RP_SESSION_STORE=sqlite:<new file in a temporary directory>`.",
			"redis":    "rp in proxy mode, `RP_SESSION_STORE=redis://127.0.0.1:6379/9` (-redis; the database is flushed before and after).",
			"postgres": "rp in proxy mode, `RP_SESSION_STORE=postgres://postgres@127.0.0.1:5432/rpbench?sslmode=disable` (-postgres; the database is created for the run and dropped after).",
		}[s.name]
		sc.Targets = append(sc.Targets, &Target{Name: s.name, Label: "rp, " + s.name + " store", About: about,
			Start: func(h *Harness) (*Instance, error) { return env.startRP(h, s) }})
	}
	sc.Targets = append(sc.Targets, &Target{Name: "oauth2-proxy", Label: "oauth2-proxy " + oauth2ProxyVersion,
		About: "oauth2-proxy with its cookie sessions (the session encrypted in the cookie): --provider=oidc against the same provider, " +
			"--upstream the same upstream, --email-domain=*, --cookie-secure=false, a 32-byte --cookie-secret, --skip-provider-button.",
		Start: env.startOAuth2Proxy})
	return sc
}

func (e *proxyEnv) setup(h *Harness, selected []*Target) (func(), error) {
	var stops []func()
	teardown := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	// Build what is needed first, so that a failing build ends the run
	// before anything is measured.
	for _, t := range selected {
		var err error
		switch t.Name {
		case "memory", "sqlite", "redis", "postgres":
			_, err = h.RPBin()
		case "oauth2-proxy":
			_, err = h.OAuth2ProxyBin()
		}
		if err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	up, err := Spawn(h.LogDir, "upstream", h.Self, []string{cmdUpstream, "-addr", addr}, cleanEnv())
	if err != nil {
		return nil, err
	}
	stops = append(stops, up.Stop)
	if err := up.WaitReady(h.Ctx, "http://"+addr+"/", 200); err != nil {
		teardown()
		return nil, err
	}
	e.upstream, e.upstreamAddr = up, addr
	h.Progress("upstream listening on %s (pid %d)", addr, up.Pid())
	if slices.ContainsFunc(selected, func(t *Target) bool { return t.Name != "direct" && t.Name != "bare" }) {
		op, stop := startProvider()
		stops = append(stops, stop)
		e.op = op
		h.Progress("test provider at %s", op.Issuer)
	}
	return teardown, nil
}

// upstreamConns counts the connections the upstream accepted, less its own.
func (e *proxyEnv) upstreamConns() map[string]int64 {
	e.statsProbes++
	a, err := Probe(context.Background(), Request{Host: e.upstreamAddr, Path: statsPath}, nil)
	if err != nil || a.Status != 200 {
		return nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(a.Body)), 10, 64)
	if err != nil {
		return nil
	}
	return map[string]int64{"connections opened to the upstream": n - e.statsProbes}
}

func (e *proxyEnv) startDirect(h *Harness) (*Instance, error) {
	req := Request{Host: e.upstreamAddr, Path: "/"}
	if err := expectProxied(h, req); err != nil {
		return nil, err
	}
	return &Instance{Proc: e.upstream, Request: req, Want: upstreamBody, Stop: func() {},
		Checks: []string{"GET / answers 200 with the 100-byte body"}}, nil
}

func (e *proxyEnv) startBare(h *Harness) (*Instance, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := Spawn(h.LogDir, "bare-proxy", h.Self, []string{cmdBareProxy, "-addr", addr, "-upstream", "http://" + e.upstreamAddr}, cleanEnv())
	if err != nil {
		return nil, err
	}
	if err := p.WaitReady(h.Ctx, "http://"+addr+"/", 200); err != nil {
		p.Stop()
		return nil, err
	}
	req := Request{Host: addr, Path: "/"}
	if err := expectProxied(h, req); err != nil {
		p.Stop()
		return nil, err
	}
	return &Instance{Proc: p, Behind: e.upstream, Counters: e.upstreamConns, Request: req, Want: upstreamBody, Stop: p.Stop,
		Checks: []string{"GET / through it answers 200 with the upstream's body (no authentication: it is the baseline)"}}, nil
}

func (e *proxyEnv) startRP(h *Harness, s store) (inst *Instance, err error) {
	spec, cleanup, err := s.prepare(h)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	bin, err := h.RPBin()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	base := "http://" + addr
	env := cleanEnv(
		"RP_ISSUER="+e.op.Issuer, "RP_CLIENT_ID="+e.op.ClientID, "RP_CLIENT_SECRET="+e.op.ClientSecret,
		"RP_BASE_URL="+base, "RP_ADDR="+addr, "RP_SESSION_STORE="+spec,
		"RP_UPSTREAM=http://"+e.upstreamAddr, rpShutdown,
	)
	env = append(env, h.Opts.RPEnv...)
	p, err := Spawn(h.LogDir, "rp-"+s.name, bin, nil, env)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.Stop()
		}
	}()
	if err := p.WaitReady(h.Ctx, base+"/readyz", 200); err != nil {
		return nil, err
	}
	// A real sign-in, as a browser: GET / (a navigation), redirected to
	// rp's login, the provider, rp's callback, and back to / proxied.
	names := map[string]string{addr: "", providerHost(e.op): "provider"}
	b := NewBrowser(names)
	r, body, err := b.Navigate(base + "/")
	if err != nil {
		return nil, fmt.Errorf("signing in: %w (hops: %s)", err, strings.Join(b.Hops, " → "))
	}
	if r.StatusCode != 200 || !bytes.Equal(body, upstreamBody) {
		return nil, fmt.Errorf("signing in ended with %d and not the upstream's body (is RP_UPSTREAM supported by this rp?); hops: %s; rp's log ends with:\n%s",
			r.StatusCode, strings.Join(b.Hops, " → "), indent(p.LogTail(10)))
	}
	cookie := b.CookieHeader(base + "/")
	req := Request{Host: addr, Path: "/", Header: [][2]string{{"Cookie", cookie}}}
	checks, err := expectAuthenticated(h, req, "rp", names)
	if err != nil {
		return nil, err
	}
	checks = append([]string{"signed in as a browser: " + strings.Join(b.Hops, " → ") + " (cookies " + cookieNames(cookie) + ")"}, checks...)
	counters := e.upstreamConns
	if s.conns != nil {
		counters = func() map[string]int64 {
			m := e.upstreamConns()
			if n, err := s.conns(h); err == nil && m != nil {
				m["connections opened to the store"] = n
			}
			return m
		}
	}
	return &Instance{Proc: p, Behind: e.upstream, Counters: counters, Request: req, Want: upstreamBody, Checks: checks,
		StoreProcs: s.procs, Stop: func() { p.Stop(); cleanup() }}, nil
}

func (e *proxyEnv) startOAuth2Proxy(h *Harness) (inst *Instance, err error) {
	bin, err := h.OAuth2ProxyBin()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	base := "http://" + addr
	args := []string{
		"--http-address=" + addr,
		"--provider=oidc",
		"--oidc-issuer-url=" + e.op.Issuer,
		"--client-id=" + e.op.ClientID,
		"--client-secret=" + e.op.ClientSecret,
		"--redirect-url=" + base + "/oauth2/callback",
		"--upstream=http://" + e.upstreamAddr + "/",
		"--email-domain=*",
		"--cookie-secure=false",
		"--cookie-secret=" + cookieSecret(),
		"--skip-provider-button",
		// The test provider requires PKCE and a nonce.
		"--code-challenge-method=S256",
		"--insecure-oidc-skip-nonce=false",
	}
	p, err := Spawn(h.LogDir, "oauth2-proxy", bin, args, cleanEnv())
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.Stop()
		}
	}()
	if err := p.WaitReady(h.Ctx, base+"/ping", 200); err != nil {
		return nil, err
	}
	names := map[string]string{addr: "", providerHost(e.op): "provider"}
	b := NewBrowser(names)
	r, body, err := b.Navigate(base + "/oauth2/start?rd=" + url.QueryEscape("/"))
	if err != nil {
		return nil, fmt.Errorf("signing in: %w (hops: %s)", err, strings.Join(b.Hops, " → "))
	}
	if r.StatusCode != 200 || !bytes.Equal(body, upstreamBody) {
		return nil, fmt.Errorf("signing in ended with %d and not the upstream's body; hops: %s; oauth2-proxy's log ends with:\n%s",
			r.StatusCode, strings.Join(b.Hops, " → "), indent(p.LogTail(10)))
	}
	cookie := b.CookieHeader(base + "/")
	req := Request{Host: addr, Path: "/", Header: [][2]string{{"Cookie", cookie}}}
	checks, err := expectAuthenticated(h, req, "oauth2-proxy", names)
	if err != nil {
		return nil, err
	}
	checks = append([]string{"signed in as a browser: " + strings.Join(b.Hops, " → ") + " (cookies " + cookieNames(cookie) + ", " + fmt.Sprint(len(cookie)) + " bytes)"}, checks...)
	return &Instance{Proc: p, Behind: e.upstream, Counters: e.upstreamConns, Request: req, Want: upstreamBody, Checks: checks, Stop: p.Stop}, nil
}

// expectProxied checks that req gets 200 with the upstream's body.
func expectProxied(h *Harness, req Request) error {
	a, err := Probe(h.Ctx, req, upstreamBody)
	if err != nil {
		return err
	}
	if a.Status != 200 || !a.BodyOK {
		return fmt.Errorf("GET %s on %s: %d, want 200 with the upstream's body", req.Path, req.Host, a.Status)
	}
	return nil
}

// expectAuthenticated checks that req (with its cookie) is proxied, that
// the upstream sees the signed-in user, and that the same request without
// the cookie is refused.
func expectAuthenticated(h *Harness, req Request, who string, names map[string]string) ([]string, error) {
	if err := expectProxied(h, req); err != nil {
		return nil, fmt.Errorf("with the session cookie: %w", err)
	}
	checks := []string{"the measured request answers 200 with the upstream's body"}

	anon, err := Probe(h.Ctx, req.WithoutHeader("Cookie"), upstreamBody)
	if err != nil {
		return nil, err
	}
	refusal, err := describeRefusal(anon, who, names)
	if err != nil {
		return nil, err
	}
	checks = append(checks, refusal)

	whoReq := req
	whoReq.Path = whoamiPath
	a, err := Probe(h.Ctx, whoReq, nil)
	if err != nil {
		return nil, err
	}
	var seen Whoami
	if a.Status != 200 || json.Unmarshal(a.Body, &seen) != nil {
		return nil, fmt.Errorf("GET %s through %s: %d %q", whoamiPath, who, a.Status, a.Body)
	}
	if seen.User == "" && seen.Email == "" {
		return nil, errors.New("the upstream received no X-Forwarded-User or X-Forwarded-Email: not authenticated?")
	}
	cookies := "no cookie"
	if len(seen.Cookies) > 0 {
		cookies = "cookies " + strings.Join(seen.Cookies, ", ")
	}
	checks = append(checks, fmt.Sprintf("the upstream received X-Forwarded-User %q, X-Forwarded-Email %q and %s", seen.User, seen.Email, cookies))
	return checks, nil
}

func providerHost(op *testprovider.Provider) string {
	u, err := url.Parse(op.Issuer)
	if err != nil {
		return ""
	}
	return u.Host
}

func cookieNames(header string) string {
	var names []string
	for _, kv := range strings.Split(header, "; ") {
		n, _, _ := strings.Cut(kv, "=")
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}
