package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rp-project/rp/internal/testprovider"
)

// The signin scenario: complete sign-ins per second against a real rp
// process, and rp's CPU time per sign-in.

// signinGoal is the bound on rp's CPU time per sign-in.
const signinGoal = 2 * time.Millisecond

func signinScenario() *Scenario {
	sc := &Scenario{
		Name:  "signin",
		Title: "complete sign-ins",
		About: "Each sign-in is what a browser without a session does, with a new cookie jar: `GET /login` on rp (303 to the provider, " +
			"with the sign-in's state cookie), the provider's authorization endpoint (it approves at once, as a provider where the user " +
			"already has a session would: 302 back to rp), then `GET /callback` on rp, which redeems the code at the provider's token " +
			"endpoint, verifies the ID token (RS256) and its nonce, stores the session and answers 303 with the session cookie. " +
			"A sign-in counts when `/callback` answered 303 and set the session cookie; after the window, sign-ins from every client " +
			"are checked with a signed-in request (`GET /profile` answers 200 with the user's page). " +
			"rp is `go build ./cmd/rp` with RP_* settings (everything else at its defaults: request log at info, written to a file; but RP_SHUTDOWN_TIMEOUT=1s, so that it stops at once between targets). " +
			"The provider (`internal/testprovider`) and the clients run in the rpbench process: their CPU time (RSA signing of every ID token, " +
			"mostly) is reported apart and never counted as rp's.",
		Caveats: []string{
			"rp's CPU per sign-in is its process's user and system CPU time during the window divided by the sign-ins completed in it: " +
				"it includes everything rp does for a sign-in (two requests, the token request to the provider, the store writes, the request log) " +
				"and its garbage collection, and nothing of the provider's or the clients'.",
			"One machine runs everything: sign-ins per second is bounded by the provider's and the clients' CPU as much as by rp's, " +
				"so the goal is on rp's CPU per sign-in, not on the rate.",
			"Every sign-in is the same user (the test provider's `alice`) with a new sid: rp keeps each as a session of its own.",
		},
		Steps: func(o Options, selected []*Target) int { return len(selected) },
	}
	env := &signinEnv{}
	sc.Targets = []*Target{
		{Name: "sqlite", Label: "rp, sqlite store (the default)", About: "rp, " + storeSpecDoc["sqlite"] + ": rp's default store."},
		{Name: "memory", Label: "rp, memory store", About: "rp, " + storeSpecDoc["memory"] + "."},
	}
	sc.Measure = env.measure
	return sc
}

type signinEnv struct {
	op *testprovider.Provider
}

// signinResult is one store's sign-ins.
type signinResult struct {
	Target             *Target
	OK, Errors         int64
	Window             time.Duration
	P50, P99           time.Duration
	CPU, CPULoad       time.Duration // rp's; rpbench's (provider and clients)
	CPUOther           time.Duration
	Noise              float64
	Samples, Checks    []string
	Err                error
	Skipped            bool
	VerifiedSessions   int
	SessionCookieBytes int
}

func (r signinResult) Rate() float64 { return float64(r.OK) / r.Window.Seconds() }

func (r signinResult) CPUPerSignin() time.Duration { return perRequest(r.CPU, r.OK) }

func (e *signinEnv) measure(h *Harness, selected []*Target) (*ScenarioRun, error) {
	began := time.Now().UTC()
	if _, err := h.RPBin(); err != nil {
		return nil, err
	}
	op, stop := startProvider()
	defer stop()
	e.op = op
	h.Progress("test provider at %s; %d concurrent sign-ins, %s warm-up then %s measured per store", op.Issuer, h.Opts.SigninConns, h.Opts.Warmup, h.Opts.Duration)
	var results []signinResult
	for _, t := range selected {
		prefix := h.Step("signin " + t.Name)
		h.waitIdle(prefix)
		r := e.measureStore(h, prefix, t)
		if h.Ctx.Err() != nil {
			return nil, h.Ctx.Err()
		}
		switch {
		case r.Skipped:
			h.Progress("%s: skipped: %v", prefix, r.Err)
		case r.Err != nil:
			h.Progress("%s: FAILED: %v", prefix, r.Err)
		default:
			h.Progress("%s: %s sign-ins/s, p50 %s, p99 %s, %d errors; CPU per sign-in: rp %s, rpbench (provider and clients) %s, other processes %s (%.0f%% of the machine)",
				prefix, fmtRate(r.Rate()), fmtDur(r.P50), fmtDur(r.P99), r.Errors, fmtDur(r.CPUPerSignin()),
				fmtDur(perRequest(r.CPULoad, r.OK)), fmtDur(perRequest(r.CPUOther, r.OK)), 100*r.Noise)
			for _, s := range r.Samples {
				h.Progress("%s: error: %s", prefix, s)
			}
		}
		results = append(results, r)
	}
	run := &ScenarioRun{}
	for _, r := range results {
		j := Judged{Scenario: "signin", What: "rp's CPU per sign-in, " + strings.TrimPrefix(r.Target.Label, "rp, "),
			Goal: "< " + fmtDur(signinGoal), Limit: float64(signinGoal) / 1e6, Unit: "ms", Value: float64(r.CPUPerSignin()) / 1e6,
			Measured: fmtDur(r.CPUPerSignin())}
		switch {
		case r.Err != nil:
			j.Value, j.Measured, j.Status = 0, "—", "n/a ("+r.Err.Error()+")"
			run.Failed = run.Failed || !r.Skipped
		case r.Errors > 0:
			j.Status = fmt.Sprintf("not met (%d errors)", r.Errors)
		default:
			j = judge(j, true)
		}
		run.Judged = append(run.Judged, j)
		run.Noisy = run.Noisy || r.Err == nil && r.Noise > noiseLimit
	}
	table := signinTable(results)
	run.Console = table
	run.Markdown = signinMarkdown(h, results, table, began)
	return run, nil
}

func (e *signinEnv) measureStore(h *Harness, prefix string, t *Target) (r signinResult) {
	r.Target = t
	st := stores[slices.IndexFunc(stores, func(s store) bool { return s.name == t.Name })]
	spec, cleanup, err := st.prepare(h)
	if err != nil {
		r.Err, r.Skipped = err, errors.Is(err, errSkip)
		return r
	}
	defer cleanup()
	h.Progress("%s: starting rp", prefix)
	p, addr, err := spawnRP(h, "rp-signin-"+t.Name, e.op, spec)
	if err != nil {
		r.Err = err
		return r
	}
	defer p.Stop()
	base := "http://" + addr

	// One sign-in first, checked as a user would see it.
	c := newSigner(base)
	cookie, err := c.signIn(h.Ctx)
	if err != nil {
		r.Err = fmt.Errorf("the first sign-in: %w; rp's log ends with:\n%s", err, indent(p.LogTail(10)))
		return r
	}
	r.SessionCookieBytes = len(cookie)
	checks, err := expectPage(h, Request{Host: addr, Path: "/profile", Header: [][2]string{{"Cookie", cookie}}}, "rp", nil)
	if err != nil {
		r.Err = err
		return r
	}
	r.Checks = append([]string{"a first sign-in: GET /login (303 to the provider), the provider (302 back), GET /callback (303 with the session cookie)"}, checks...)
	h.Progress("%s: checked: %s", prefix, strings.Join(r.Checks, "; "))

	h.Progress("%s: warming up %s, measuring %s with %d concurrent sign-ins", prefix, h.Opts.Warmup, h.Opts.Duration, h.Opts.SigninConns)
	begin := time.Now()
	start, end := begin.Add(h.Opts.Warmup), begin.Add(h.Opts.Warmup+h.Opts.Duration)
	ctx, cancel := context.WithDeadline(h.Ctx, end.Add(30*time.Second))
	defer cancel()
	var cpu [2][3]time.Duration // rp, rpbench, whole machine
	sample := func(i int) {
		cpu[i] = [3]time.Duration{p.CPUTime(), cpuTime(os.Getpid()), machineBusy()}
	}
	var phases sync.WaitGroup
	phases.Go(func() {
		time.Sleep(time.Until(start))
		stopProfile := func() {}
		if h.Opts.ProfileDir != "" {
			stopProfile = h.startPerf("signin-"+t.Name, p.Pid())
		}
		sample(0)
		time.Sleep(time.Until(end))
		sample(1)
		stopProfile()
	})
	type tally struct {
		ok, errs int64
		lat      []time.Duration
		samples  []string
		cookies  []string
	}
	tallies := make([]tally, h.Opts.SigninConns)
	var wg sync.WaitGroup
	for i := range tallies {
		wg.Go(func() {
			t := &tallies[i]
			c := newSigner(base)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				cookie, err := c.signIn(ctx)
				t1 := time.Now()
				if t0.Before(start) || t1.After(end) {
					continue
				}
				t.lat = append(t.lat, t1.Sub(t0))
				if err != nil {
					t.errs++
					if len(t.samples) < 3 {
						t.samples = append(t.samples, err.Error())
					}
					continue
				}
				t.ok++
				if len(t.cookies) < 3 {
					t.cookies = append(t.cookies, cookie)
				}
			}
		})
	}
	wg.Wait()
	phases.Wait()
	var lat []time.Duration
	var cookies []string
	for _, t := range tallies {
		r.OK += t.ok
		r.Errors += t.errs
		lat = append(lat, t.lat...)
		cookies = append(cookies, t.cookies...)
		for _, s := range t.samples {
			if len(r.Samples) < 5 && !slices.Contains(r.Samples, s) {
				r.Samples = append(r.Samples, s)
			}
		}
	}
	slices.Sort(lat)
	r.Window = h.Opts.Duration
	r.P50, r.P99 = percentile(lat, 50), percentile(lat, 99)
	r.CPU, r.CPULoad = cpu[1][0]-cpu[0][0], cpu[1][1]-cpu[0][1]
	r.CPUOther = max(0, cpu[1][2]-cpu[0][2]-r.CPU-r.CPULoad)
	r.Noise = float64(r.CPUOther) / float64(h.Opts.Duration*time.Duration(runtime.NumCPU()))
	if r.OK == 0 {
		r.Err = fmt.Errorf("no sign-in completed in the window (%d errors: %s)", r.Errors, strings.Join(r.Samples, "; "))
		return r
	}
	// Were they real sign-ins? Each kept session shows the user's page.
	for _, ck := range cookies {
		a, err := ProbeContains(h.Ctx, Request{Host: addr, Path: "/profile", Header: [][2]string{{"Cookie", ck}}}, pageMarker)
		if err != nil || a.Status != 200 || !a.BodyOK {
			r.Err = fmt.Errorf("a session signed in during the window does not show the user's page (status %d, %v)", a.Status, err)
			return r
		}
		r.VerifiedSessions++
	}
	r.Checks = append(r.Checks, fmt.Sprintf("after the window, %d sessions signed in during it (up to 3 per client) each got 200 with the user's page on GET /profile", r.VerifiedSessions))
	if ok, perr := p.Exited(); ok {
		r.Err = fmt.Errorf("rp exited during the measurement (%v)", perr)
	}
	return r
}

// signer signs in as a browser without a session would, a new cookie jar
// each time, over keep-alive connections of its own.
type signer struct {
	base   string
	client *http.Client
}

func newSigner(base string) *signer {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	return &signer{base: base, client: &http.Client{Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signIn runs one whole sign-in and returns the session's Cookie header.
func (s *signer) signIn(ctx context.Context) (string, error) {
	cookie, _, err := s.signInAt(ctx, "/login")
	return cookie, err
}

// signInAt runs one whole sign-in from loginPath (e.g.
// "/login?return_to=..."), and returns the session's Cookie header and
// where /callback sent the browser.
func (s *signer) signInAt(ctx context.Context, loginPath string) (cookie, landing string, err error) {
	jar, _ := cookiejar.New(nil)
	get := func(raw string, want int) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "text/html")
		for _, c := range jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		r, err := s.client.Do(req)
		if err != nil {
			return nil, err
		}
		_, _ = readAllLimit(r, 1<<20)
		if cs := r.Cookies(); len(cs) > 0 {
			jar.SetCookies(req.URL, cs)
		}
		if r.StatusCode != want {
			return nil, fmt.Errorf("GET %s: %d, want %d", strings.SplitN(raw, "?", 2)[0], r.StatusCode, want)
		}
		return r, nil
	}
	r, err := get(s.base+loginPath, http.StatusSeeOther)
	if err != nil {
		return "", "", err
	}
	r, err = get(r.Header.Get("Location"), http.StatusFound) // the provider approves
	if err != nil {
		return "", "", err
	}
	cb := r.Header.Get("Location")
	if !strings.HasPrefix(cb, s.base+"/callback?") {
		return "", "", fmt.Errorf("the provider sent the browser to %q, not rp's callback", cb)
	}
	if r, err = get(cb, http.StatusSeeOther); err != nil {
		return "", "", err
	}
	landing = r.Header.Get("Location")
	u, _ := url.Parse(s.base + "/")
	var parts []string
	signedIn := false
	for _, c := range jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
		signedIn = signedIn || c.Name == "rp_session"
	}
	if !signedIn {
		return "", "", fmt.Errorf("/callback answered 303 without a session cookie")
	}
	return strings.Join(parts, "; "), landing, nil
}

func signinTable(results []signinResult) string {
	var b strings.Builder
	b.WriteString("| store | sign-ins/s | p50 | p99 | errors | rp CPU per sign-in | rpbench CPU per sign-in (provider, clients) | other processes | goal < 2 ms |\n" +
		"|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range results {
		if r.Err != nil {
			why := "failed: "
			if r.Skipped {
				why = "not run: "
			}
			fmt.Fprintf(&b, "| %s | — | — | — | — | — | — | — | %s |\n", r.Target.Label, mdCell(why+r.Err.Error()))
			continue
		}
		status := "met"
		switch {
		case r.Errors > 0:
			status = fmt.Sprintf("not met (%d errors)", r.Errors)
		case r.CPUPerSignin() >= signinGoal:
			status = "not met"
		}
		rate := fmtRate(r.Rate())
		if r.Noise > noiseLimit {
			rate += " ⚠"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %s | %s | %s | %s |\n", r.Target.Label, rate, fmtDur(r.P50), fmtDur(r.P99), r.Errors,
			fmtDur(r.CPUPerSignin()), fmtDur(perRequest(r.CPULoad, r.OK)), fmtDur(perRequest(r.CPUOther, r.OK)), status)
	}
	return b.String()
}

func signinMarkdown(h *Harness, results []signinResult, table string, began time.Time) string {
	o := h.Opts
	var b strings.Builder
	b.WriteString(reportHead("signin", "complete sign-ins", began))
	b.WriteString(machineMarkdown(&h.Machine, o))
	fmt.Fprintf(&b, "- **Load**: %d clients in the rpbench process, each signing in again as soon as its last sign-in ended; "+
		"%s warm-up, then %s measured, per store. p50 and p99 are the times of a whole sign-in (three requests, the token request inside the last).\n\n",
		o.SigninConns, o.Warmup, o.Duration)
	b.WriteString(table)
	b.WriteString("\nOther processes is the machine's busy CPU time outside rp and rpbench during the window (the kernel's work not charged to a process, " +
		"and anything else that ran), per sign-in; ⚠ marks a window where it exceeded 10% of the machine.\n\n")
	b.WriteString(scenarioByName("signin").About + "\n\n## What was checked\n\n")
	for _, r := range results {
		if len(r.Checks) > 0 {
			fmt.Fprintf(&b, "- **%s**: %s.\n", r.Target.Label, strings.Join(r.Checks, "; "))
		}
	}
	b.WriteString("\n## Caveats\n\n")
	for _, c := range scenarioByName("signin").Caveats {
		fmt.Fprintf(&b, "- %s\n", c)
	}
	fmt.Fprintf(&b, "\n## Reproduce\n\n```sh\n%s\n```\n", reproduceCommand(o, "signin"))
	return b.String()
}

// scenarioByName is the scenario named name (nil when none).
func scenarioByName(name string) *Scenario {
	for _, s := range scenarios() {
		if s.Name == name {
			return s
		}
	}
	return nil
}
