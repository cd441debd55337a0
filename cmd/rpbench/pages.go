package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/rp-project/rp/internal/testprovider"
)

// The pages scenario: a signed-in user's requests for rp's own page
// /profile (rp not in proxy mode) on each session store, against a bare
// net/http handler rendering the same page from the same templates.

// pagesEnv is what the pages scenario's targets share.
type pagesEnv struct {
	op *testprovider.Provider
}

func pagesScenario() *Scenario {
	env := &pagesEnv{}
	sc := &Scenario{
		Name:  "pages",
		Title: "authenticated pages served by rp",
		About: "Every request is `GET /profile` with the signed-in user's cookie: the protected page, which reads the session, " +
			"its claims and its CSRF token, and renders them. It is the heaviest of rp's pages a signed-in user loads; the home page " +
			"signed in costs the same session read and a smaller template. An answer counts as a success when it is 200 and its body " +
			"holds `<h1>Alice Example</h1>` (the page shows times in words, e.g. \"5 minutes ago\", so it is not byte-for-byte the same " +
			"on every request). rp is `go build ./cmd/rp` with RP_* settings (everything else at its defaults: request log at info, " +
			"written to a file; idle timeout 1h; but RP_SHUTDOWN_TIMEOUT=1s, so that it stops at once between targets). The OpenID provider is `internal/testprovider` in the rpbench process, used only to sign in.",
		Expect:    "the signed-in user's page (`<h1>Alice Example</h1>` in the body)",
		Baselines: []Baseline{{"handler", "× bare handler"}},
		Goals:     []Goal{{"memory", "handler", 0.5}},
		Caveats: []string{
			"The bare handler is the floor of any Go server that renders this page: net/http and html/template, nothing else. " +
				"rp adds a session read, the request id, the request log line, security headers and its router.",
			"One machine runs everything: the load generator and the server under test (and for Redis and PostgreSQL the store server) share its CPUs.",
			"rp's memory and SQLite stores answer repeated reads of a session from an in-process cache; Redis and PostgreSQL are asked on every request.",
		},
		Setup: env.setup,
	}
	sc.Targets = []*Target{{Name: "handler", Label: "bare handler",
		About: "rpbench's own binary run again as a process of its own: a net/http server whose one handler checks a fixed cookie " +
			"and renders rp's `layout.html` and `profile.html` (the same `templates` package rp embeds) with html/template " +
			"for the same user and claims, into a buffer, with Content-Length.",
		Start: env.startHandler}}
	for _, s := range stores {
		s := s
		sc.Targets = append(sc.Targets, &Target{Name: s.name, Label: "rp, " + s.name + " store",
			About: "rp, " + storeSpecDoc[s.name] + ".",
			Start: func(h *Harness) (*Instance, error) { return env.startRP(h, s) }})
	}
	return sc
}

// storeSpecDoc is each store's RP_SESSION_STORE as the reports give it.
var storeSpecDoc = map[string]string{
	"memory":   "`RP_SESSION_STORE=memory`",
	"sqlite":   "`RP_SESSION_STORE=sqlite:<new file in a temporary directory>`",
	"redis":    "`RP_SESSION_STORE=redis://127.0.0.1:6379/9` (-redis; the database is flushed before and after)",
	"postgres": "`RP_SESSION_STORE=postgres://postgres@127.0.0.1:5432/rpbench?sslmode=disable` (-postgres; the database is created for the run and dropped after)",
}

func (e *pagesEnv) setup(h *Harness, selected []*Target) (func(), error) {
	if slices.ContainsFunc(selected, func(t *Target) bool { return t.Name != "handler" }) {
		if _, err := h.RPBin(); err != nil {
			return nil, err
		}
	}
	op, stop := startProvider()
	e.op = op
	h.Progress("test provider at %s", op.Issuer)
	return stop, nil
}

func (e *pagesEnv) startHandler(h *Harness) (*Instance, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := Spawn(h.LogDir, "bare-page", h.Self, []string{cmdBarePage, "-addr", addr, "-issuer", e.op.Issuer}, cleanEnv())
	if err != nil {
		return nil, err
	}
	if err := p.WaitReady(h.Ctx, "http://"+addr+"/", 401); err != nil {
		p.Stop()
		return nil, err
	}
	req := Request{Host: addr, Path: "/profile", Header: [][2]string{{"Cookie", barePageCookie}}}
	checks, err := expectPage(h, req, "the bare handler", nil)
	if err != nil {
		p.Stop()
		return nil, err
	}
	return &Instance{Proc: p, Request: req, Want: pageMarker, WantContains: true, Checks: checks, Stop: p.Stop}, nil
}

func (e *pagesEnv) startRP(h *Harness, s store) (inst *Instance, err error) {
	spec, cleanup, err := s.prepare(h)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	p, addr, err := spawnRP(h, "rp-pages-"+s.name, e.op, spec)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.Stop()
		}
	}()
	base := "http://" + addr
	names := map[string]string{addr: "", providerHost(e.op): "provider"}
	b := NewBrowser(names)
	r, _, err := b.Navigate(base + "/login")
	if err != nil {
		return nil, fmt.Errorf("signing in: %w (hops: %s)", err, strings.Join(b.Hops, " → "))
	}
	if r.StatusCode != 200 {
		return nil, fmt.Errorf("signing in ended with %d; hops: %s; rp's log ends with:\n%s",
			r.StatusCode, strings.Join(b.Hops, " → "), indent(p.LogTail(10)))
	}
	cookie := b.CookieHeader(base + "/")
	req := Request{Host: addr, Path: "/profile", Header: [][2]string{{"Cookie", cookie}}}
	checks, err := expectPage(h, req, "rp", names)
	if err != nil {
		return nil, err
	}
	checks = append([]string{"signed in as a browser: " + strings.Join(b.Hops, " → ") + " (cookies " + cookieNames(cookie) + ")"}, checks...)
	return &Instance{Proc: p, Request: req, Want: pageMarker, WantContains: true, Checks: checks,
		StoreProcs: s.procs, Stop: func() { p.Stop(); cleanup() }}, nil
}

// rpShutdown makes rp stop within a second of SIGTERM (its grace for load
// balancers, 5 s by default, would wait between every two targets).
const rpShutdown = "RP_SHUTDOWN_TIMEOUT=1s"

// spawnRP starts rp (not in proxy mode) on store spec against op, with
// -rp-env, and waits for it to be ready.
func spawnRP(h *Harness, name string, op *testprovider.Provider, spec string, extra ...string) (*Proc, string, error) {
	bin, err := h.RPBin()
	if err != nil {
		return nil, "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	env := cleanEnv(
		"RP_ISSUER="+op.Issuer, "RP_CLIENT_ID="+op.ClientID, "RP_CLIENT_SECRET="+op.ClientSecret,
		"RP_BASE_URL="+base, "RP_ADDR="+addr, "RP_SESSION_STORE="+spec, rpShutdown,
	)
	env = append(env, extra...)
	env = append(env, h.Opts.RPEnv...)
	p, err := Spawn(h.LogDir, name, bin, nil, env)
	if err != nil {
		return nil, "", err
	}
	if err := p.WaitReady(h.Ctx, base+"/readyz", 200); err != nil {
		p.Stop()
		return nil, "", err
	}
	return p, addr, nil
}

// expectPage checks that req (with its cookie) gets the signed-in page
// and that the same request without the cookie is refused.
func expectPage(h *Harness, req Request, who string, names map[string]string) ([]string, error) {
	a, err := ProbeContains(h.Ctx, req, pageMarker)
	if err != nil {
		return nil, err
	}
	if a.Status != 200 || !a.BodyOK {
		return nil, fmt.Errorf("GET %s on %s with the cookie: %d, want 200 with the signed-in user's page", req.Path, who, a.Status)
	}
	checks := []string{fmt.Sprintf("GET %s with the cookie answers 200 with the signed-in user's page (%d bytes)", req.Path, len(a.Body))}
	anon, err := ProbeContains(h.Ctx, req.WithoutHeader("Cookie"), pageMarker)
	if err != nil {
		return nil, err
	}
	refusal, err := describeRefusal(anon, who, names)
	if err != nil {
		return nil, err
	}
	return append(checks, refusal), nil
}

// describeRefusal checks that an answer to a request without the session
// cookie is a refusal (a redirect to sign in, 401 or 403, without the
// signed-in answer's body) and says so for the report.
func describeRefusal(anon Answer, who string, names map[string]string) (string, error) {
	if !slices.Contains([]int{302, 303, 401, 403}, anon.Status) || anon.BodyOK {
		return "", fmt.Errorf("without the cookie %s answered %d, want a refusal (302, 303, 401 or 403)", who, anon.Status)
	}
	refusal := fmt.Sprintf("without the cookie it answers %d", anon.Status)
	if loc := anon.Header["location"]; loc != "" {
		if u, err := url.Parse(loc); err == nil {
			loc = shortURL(u, names)
		}
		refusal += " to " + loc
	}
	return refusal, nil
}
