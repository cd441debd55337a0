package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rp-project/rp/internal/session"
	"github.com/rp-project/rp/internal/testprovider"
)

// The anonymous scenario: does anonymous traffic grow the session store?
// rp starts on each store; rpbench measures the store from outside rp
// (keys or rows, and bytes), sends 10⁵ GET /login without a cookie, each
// with a 2 KiB return_to, then forged GET /callback requests, and
// measures the store after each step. The goal: the store gains
// nothing.

// returnToBytes is the length of the return_to path: rp's longest.
const returnToBytes = 2048

// anonymousPhaseLimit bounds each step of requests.
const anonymousPhaseLimit = 10 * time.Minute

func anonymousScenario() *Scenario {
	sc := &Scenario{
		Name:  "anonymous",
		Title: "anonymous requests and the session store",
		About: "A request that has not signed in must write nothing to the shared store: the pending sign-in (state, nonce, PKCE verifier, " +
			"return URL) travels in a sealed cookie, and the state is claimed in the store only at `/callback`, after a code exchange that succeeded. " +
			"For each store, rpbench starts rp on a fresh store (`go build ./cmd/rp`, as in the other scenarios; the memory store in rpbench's process, " +
			"the only place it can be measured), checks it, measures the store from outside rp, and sends three steps of requests with its own load generator, " +
			"with no cookie jar: each request is a new anonymous visitor. " +
			"(1) `GET /login?return_to=<a 2,048-byte path>` without a cookie, the longest return_to rp keeps; each must answer a redirect to the provider. " +
			"(2) `GET /callback?state=<forged>&code=<forged>&iss=<the provider's>` without a cookie, a new state and code on every request; each must be refused (4xx). " +
			"(3) One more `GET /login` by a client that keeps what it sets: its cookies are then replayed on `GET /callback?state=<that /login's state>&code=<forged>&iss=<the provider's>`, " +
			"a new forged code on every request; rp may try the code at the provider, which refuses it, so each must be refused (4xx). " +
			"Every callback carries the provider's issuer as `iss` (RFC 9207; it is public), as an attacker's would: without it rp refuses a callback before anything else. " +
			"After each step rpbench measures the store again: the keys of the Redis database, the rows of every table of the SQLite file and of the PostgreSQL database, " +
			"and the store's size. The goal: no key or row added, and the size unchanged within what the store's own bookkeeping explains (the tolerances are below). " +
			"After the last measurement a browser signs in from the same `/login?return_to=<2,048-byte path>` and must land on that path: " +
			"rp kept the return URL, and still signs in after the load.",
		Caveats: []string{
			"The load generator keeps its connections alive (64 by default, -c): rp sees many requests per connection but never a cookie, " +
				"except the replayed one of step 3, so every request of step 1 is a sign-in started by a visitor rp has not seen.",
			"req/s is given as information, not judged: it is the rate of anonymous `/login` (and refused `/callback`) on this machine, " +
				"with the load generator and, for Redis and PostgreSQL, the store server on the same CPUs.",
			"The memory store lives in rp's process, so for it rp runs in rpbench's process (`internal/app`, the same handler as the binary): " +
				"its size is the in-memory SQLite database's pages, read through rp's session manager; its rows cannot be counted from there.",
			"rp's resident memory (VmRSS) is reported for rp's own process, as information: it moves with Go's heap and garbage collector, not with the store.",
		},
		Steps: func(o Options, selected []*Target) int { return len(selected) },
	}
	sc.Targets = []*Target{
		{Name: "sqlite", Label: "rp, sqlite store", About: "rp, " + storeSpecDoc["sqlite"] + "."},
		{Name: "memory", Label: "rp, memory store (in rpbench's process)", About: "rp, " + storeSpecDoc["memory"] + ", run in rpbench's process (see the caveats)."},
		{Name: "redis", Label: "rp, redis store", About: "rp, " + storeSpecDoc["redis"] + "."},
		{Name: "postgres", Label: "rp, postgres store", About: "rp, " + storeSpecDoc["postgres"] + "."},
	}
	sc.Measure = measureAnonymous
	return sc
}

// anonPhase is one step of requests and the store after it.
type anonPhase struct {
	What   string // what was sent
	Sent   int64  // requests wanted
	Load   LoadResult
	Tokens int // token requests rp sent the provider during the step
	After  storeLevel
}

// Shortfall is the requests that were not answered as wanted, or not sent.
func (p anonPhase) Shortfall() int64 { return max(p.Load.Errors, p.Sent-p.Load.OK) }

// anonResult is one store's run.
type anonResult struct {
	Target                 *Target
	SizeOf, Tolerance, Why string
	TolBytes               int64
	Before                 storeLevel
	Phases                 []anonPhase
	RSSBefore, RSSAfter    int64 // rp's resident memory; 0 when rp ran in rpbench's process
	Checks                 []string
	Err                    error
	Skipped                bool
}

// Growth is what the store gained over every step: keys or rows, and bytes.
func (r anonResult) Growth() (count, size int64, ok bool) {
	if len(r.Phases) == 0 {
		return 0, 0, false
	}
	last := r.Phases[len(r.Phases)-1].After
	return last.Count - r.Before.Count, last.Size - r.Before.Size, true
}

func measureAnonymous(h *Harness, selected []*Target) (*ScenarioRun, error) {
	began := time.Now().UTC()
	if slices.ContainsFunc(selected, func(t *Target) bool { return t.Name != "memory" }) {
		if _, err := h.RPBin(); err != nil {
			return nil, err
		}
	}
	op, stop := startProvider()
	defer stop()
	h.Progress("test provider at %s; per store: %s GET /login, then twice %s GET /callback, on %d connections",
		op.Issuer, fmtRate(float64(h.Opts.AnonLogins)), fmtRate(float64(h.Opts.AnonCallbacks)), h.Opts.Connections)
	var results []anonResult
	for _, t := range selected {
		prefix := h.Step("anonymous " + t.Name)
		h.waitIdle(prefix)
		r := measureAnonymousStore(h, prefix, op, t)
		if h.Ctx.Err() != nil {
			return nil, h.Ctx.Err()
		}
		switch {
		case r.Skipped:
			h.Progress("%s: skipped: %v", prefix, r.Err)
		case r.Err != nil:
			h.Progress("%s: FAILED: %v", prefix, r.Err)
		}
		results = append(results, r)
	}
	run := &ScenarioRun{}
	for _, r := range results {
		run.Judged = append(run.Judged, anonymousJudged(r, h.Opts))
		run.Failed = run.Failed || r.Err != nil && !r.Skipped
	}
	table := anonymousTable(results)
	run.Console = table
	run.Markdown = anonymousMarkdown(h, results, table, began)
	return run, nil
}

func measureAnonymousStore(h *Harness, prefix string, op *testprovider.Provider, t *Target) (r anonResult) {
	r.Target = t
	st := stores[slices.IndexFunc(stores, func(s store) bool { return s.name == t.Name })]
	spec, cleanup, err := st.prepare(h)
	if err != nil {
		r.Err, r.Skipped = err, errors.Is(err, errSkip)
		return r
	}
	defer cleanup()
	h.Progress("%s: starting rp", prefix)
	var (
		addr  string
		proc  *Proc
		inApp *session.Manager
	)
	if t.Name == "memory" {
		a, base, stop, err := startRPInProcess(h, op, "rp-anonymous-memory")
		if err != nil {
			r.Err = err
			return r
		}
		defer stop()
		addr, inApp = strings.TrimPrefix(base, "http://"), a.Sessions
	} else {
		p, a, err := spawnRP(h, "rp-anonymous-"+t.Name, op, spec)
		if err != nil {
			r.Err = err
			return r
		}
		defer p.Stop()
		proc, addr = p, a
	}
	base := "http://" + addr
	logTail := func() string {
		if proc == nil {
			return ""
		}
		return "; rp's log ends with:\n" + indent(proc.LogTail(10))
	}
	g, err := newGauge(h.Ctx, h, t.Name, spec, inApp)
	if err != nil {
		r.Err = fmt.Errorf("measuring the store: %w", err)
		return r
	}
	defer g.close()
	r.SizeOf, r.Tolerance, r.Why, r.TolBytes = g.SizeOf, g.Tolerance, g.Why, g.TolBytes

	returnTo := longReturnTo()
	loginPath := "/login?return_to=" + url.QueryEscape(returnTo)
	client := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()

	// Checked first, as a visitor would see it: one /login (before the
	// first measurement, so that what rp sets up once on its first
	// sign-in is not counted as growth) and one forged /callback.
	first, err := anonymousLogin(h.Ctx, client, base+loginPath, op)
	if err != nil {
		r.Err = fmt.Errorf("the first GET /login: %w%s", err, logTail())
		return r
	}
	r.Checks = append(r.Checks, fmt.Sprintf("GET /login?return_to=<%s-byte path> without a cookie answers %d to the provider's authorization endpoint with a state, setting %s",
		fmtRate(returnToBytes), first.Status, first.cookieDoc()))
	// The callbacks carry the provider's iss (RFC 9207), public, as an
	// attacker's would: without it rp refuses them before anything else.
	salt, iss := randomHex(8), "&iss="+url.QueryEscape(op.Issuer)
	forged := Request{Host: addr, Path: "/callback?state=rpbench-" + salt + "-check&code=rpbench-" + salt + "-check" + iss}
	a, err := Probe(h.Ctx, forged, nil)
	if err != nil {
		r.Err = err
		return r
	}
	if !refused(a.Status) {
		r.Err = fmt.Errorf("GET /callback with a forged state and code answered %d, want a refusal (4xx)%s", a.Status, logTail())
		return r
	}
	r.Checks = append(r.Checks, fmt.Sprintf("GET /callback?state=<forged>&code=<forged>&iss=<the provider's> without a cookie answers %d", a.Status))
	h.Progress("%s: checked: %s", prefix, strings.Join(r.Checks, "; "))

	if r.Before, err = g.measure(h.Ctx); err != nil {
		r.Err = fmt.Errorf("measuring the store: %w", err)
		return r
	}
	if proc != nil {
		r.RSSBefore = processResident(proc.Pid())
	}
	h.Progress("%s: before: %s", prefix, levelDoc(r.Before))

	step := func(what string, n int64, req Request, accept func(int) bool, next func(int64) []byte) error {
		tokens0 := op.Count("token")
		h.Progress("%s: %s × %s", prefix, fmtRate(float64(n)), what)
		res, err := Load(h.Ctx, req, nil, LoadOptions{Connections: h.Opts.Connections, Duration: anonymousPhaseLimit,
			Requests: n, Accept: accept, Next: next})
		if err != nil {
			return err
		}
		ph := anonPhase{What: what, Sent: n, Load: res, Tokens: op.Count("token") - tokens0}
		if ph.After, err = g.measure(h.Ctx); err != nil {
			return fmt.Errorf("measuring the store: %w", err)
		}
		prev := r.Before
		if len(r.Phases) > 0 {
			prev = r.Phases[len(r.Phases)-1].After
		}
		r.Phases = append(r.Phases, ph)
		h.Progress("%s: %s answered in %s (%s req/s, p50 %s, p99 %s): %s; %d errors; %s to the provider; the store: %s",
			prefix, fmtRate(float64(res.OK+res.Errors)), res.Window.Round(time.Millisecond), fmtRate(res.RPS()), fmtDur(res.P50), fmtDur(res.P99),
			statusesDoc(res.Statuses), res.Errors, plural(ph.Tokens, "token request", "token requests"), changeDoc(prev, ph.After))
		for _, s := range res.Samples {
			h.Progress("%s: error: %s", prefix, s)
		}
		return nil
	}
	// 1: anonymous sign-ins started, each a new visitor.
	if err := step(fmt.Sprintf("GET /login?return_to=<%s-byte path>, no cookie", fmtRate(returnToBytes)), int64(h.Opts.AnonLogins),
		Request{Host: addr, Path: loginPath}, redirected, nil); err != nil {
		r.Err = err
		return r
	}
	// 2: forged callbacks, a new state and code each time.
	forgedCallback := func(n int64) []byte {
		return Request{Host: addr, Path: fmt.Sprintf("/callback?state=rpbench-%s-%d&code=rpbench-%s-%d", salt, n, salt, n) + iss}.Bytes()
	}
	if err := step("GET /callback?state=<forged>&code=<forged>, no cookie", int64(h.Opts.AnonCallbacks),
		forged, refused, forgedCallback); err != nil {
		r.Err = err
		return r
	}
	// 3: a /login's cookies replayed with its state and a forged code.
	replay, err := anonymousLogin(h.Ctx, client, base+loginPath, op)
	if err != nil {
		r.Err = fmt.Errorf("GET /login for its cookies: %w%s", err, logTail())
		return r
	}
	var header [][2]string
	if replay.Cookie != "" {
		header = [][2]string{{"Cookie", replay.Cookie}}
	}
	replayed := func(n int64) []byte {
		return Request{Host: addr, Path: "/callback?state=" + url.QueryEscape(replay.State) + fmt.Sprintf("&code=rpbench-%s-%d", salt, n) + iss, Header: header}.Bytes()
	}
	if err := step("GET /callback?state=<that /login's>&code=<forged>, with one GET /login's cookies", int64(h.Opts.AnonCallbacks),
		Request{Host: addr, Path: "/callback", Header: header}, refused, replayed); err != nil {
		r.Err = err
		return r
	}
	if proc != nil {
		r.RSSAfter = processResident(proc.Pid())
	}

	// Still signing in, and the 2 KiB return URL kept?
	_, landing, err := newSigner(base).signInAt(h.Ctx, loginPath)
	if err != nil {
		r.Err = fmt.Errorf("a sign-in after the load: %w%s", err, logTail())
		return r
	}
	if landing != returnTo {
		r.Err = fmt.Errorf("a sign-in from /login?return_to=<%d-byte path> landed on %.80q, not on that path", len(returnTo), landing)
		return r
	}
	r.Checks = append(r.Checks, fmt.Sprintf("after the last measurement, a browser signed in from the same /login?return_to=<%s-byte path> "+
		"(the provider, then /callback answering 303 with the session cookie) and landed on that path", fmtRate(returnToBytes)))
	if proc != nil {
		if ok, perr := proc.Exited(); ok {
			r.Err = fmt.Errorf("rp exited during the measurement (%v)", perr)
		}
	}
	return r
}

// longReturnTo is a same-origin path of returnToBytes bytes, the same in
// every run: letters and digits drawn at random, so that no store can
// compress it (PostgreSQL compresses a long value it stores).
func longReturnTo() string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	rng := mathrand.New(mathrand.NewPCG(14, 1))
	b := []byte("/rpbench-anonymous/")
	for len(b) < returnToBytes {
		if len(b)%64 == 63 {
			b = append(b, '/')
			continue
		}
		b = append(b, chars[rng.IntN(len(chars))])
	}
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redirected(status int) bool { return status == http.StatusFound || status == http.StatusSeeOther }

func refused(status int) bool { return status/100 == 4 }

// loginAnswer is what one anonymous GET /login answered.
type loginAnswer struct {
	Status  int
	State   string // the state sent to the provider
	Cookie  string // the Cookie header a browser would send back
	Names   []string
	Bytes   int // of the Set-Cookie values
	Cookies int
}

func (l loginAnswer) cookieDoc() string {
	if l.Cookies == 0 {
		return "no cookie"
	}
	return fmt.Sprintf("%s (%d bytes of cookie values)", plural(l.Cookies, "cookie", "cookies")+" "+strings.Join(l.Names, ", "), l.Bytes)
}

// anonymousLogin sends one GET /login without a cookie and checks that it
// sends the browser to the provider with a state.
func anonymousLogin(ctx context.Context, client *http.Client, raw string, op *testprovider.Provider) (loginAnswer, error) {
	var l loginAnswer
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return l, err
	}
	req.Header.Set("Accept", "text/html")
	res, err := client.Do(req)
	if err != nil {
		return l, err
	}
	_, _ = readAllLimit(res, 1<<20)
	l.Status = res.StatusCode
	loc, err := url.Parse(res.Header.Get("Location"))
	if !redirected(res.StatusCode) || err != nil || !strings.HasPrefix(loc.String(), op.Issuer) {
		return l, fmt.Errorf("answered %d to %.80q, want a redirect to the provider", res.StatusCode, res.Header.Get("Location"))
	}
	if l.State = loc.Query().Get("state"); l.State == "" {
		return l, fmt.Errorf("the redirect to the provider has no state")
	}
	var parts []string
	for _, c := range res.Cookies() {
		parts = append(parts, c.Name+"="+c.Value)
		l.Names = append(l.Names, c.Name)
		l.Bytes += len(c.Value)
		l.Cookies++
	}
	l.Cookie = strings.Join(parts, "; ")
	return l, nil
}

// anonymousJudged judges a store: nothing added over every step.
func anonymousJudged(r anonResult, o Options) Judged {
	unit := "bytes"
	if r.Before.Unit != "" {
		unit = r.Before.Unit
	}
	j := Judged{Scenario: "anonymous", What: fmt.Sprintf("store growth from %s anonymous /login and %s forged /callback, %s",
		fmtRate(float64(o.AnonLogins)), fmtRate(float64(2*o.AnonCallbacks)), strings.TrimPrefix(r.Target.Label, "rp, ")),
		Goal: anonymousGoal(r), Unit: unit, Value: math.NaN(), Measured: "—", Status: "n/a"}
	count, size, ok := r.Growth()
	var short int64
	for _, p := range r.Phases {
		short += p.Shortfall()
	}
	last := r.Before
	if ok {
		last = r.Phases[len(r.Phases)-1].After
	}
	switch {
	case r.Err != nil:
		j.Status = "n/a (" + r.Err.Error() + ")"
		return j
	case !ok:
		return j
	}
	j.Measured = fmtSizeDelta(size)
	j.Value = float64(size)
	if r.Before.Unit != "" {
		j.Measured = fmtCountDelta(count) + " " + r.Before.Unit + ", " + j.Measured
		j.Value = float64(count)
	}
	switch {
	case count != 0:
		j.Status = "not met"
	case short > 0:
		j.Status = fmt.Sprintf("not met (%d requests not answered as wanted)", short)
	case abs(size) <= r.TolBytes:
		j.Status = "met"
	case r.Before.Others != last.Others:
		j.Status = "n/a (no " + unit + " added, but another client changed the server's other databases during the run: the size cannot be judged)"
	default:
		j.Status = "not met"
	}
	return j
}

// anonymousGoal is the goal as the summary gives it, e.g. "0 keys, ±64.0 KiB".
func anonymousGoal(r anonResult) string {
	size := "+0 B"
	if r.TolBytes > 0 {
		size = "±" + fmtSize(r.TolBytes)
	}
	if r.Before.Unit == "" {
		return size
	}
	return "0 " + r.Before.Unit + ", " + size
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// fmtSize is n bytes in B, KiB or MiB.
func fmtSize(n int64) string {
	switch a := abs(n); {
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case a >= 10<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmtRate(float64(n)) + " B"
}

// fmtSizeDelta is fmtSize with a sign: "+0 B", "+2.4 MiB", "−8,192 B".
func fmtSizeDelta(n int64) string {
	if n < 0 {
		return "−" + fmtSize(-n)
	}
	return "+" + fmtSize(n)
}

// fmtCountDelta is n with its sign: "+0", "+100,000", "−3".
func fmtCountDelta(n int64) string {
	if n < 0 {
		return "−" + fmtRate(float64(-n))
	}
	return "+" + fmtRate(float64(n))
}

// statusesDoc is the answers by status: "303 × 100,000".
func statusesDoc(m map[int]int64) string {
	if len(m) == 0 {
		return "no answer"
	}
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d × %s", s, fmtRate(float64(m[s]))))
	}
	return strings.Join(parts, ", ")
}

// levelDoc describes a store's level for the progress lines.
func levelDoc(l storeLevel) string {
	s := fmtSize(l.Size)
	if l.Unit != "" {
		s = plural(int(l.Count), strings.TrimSuffix(l.Unit, "s"), l.Unit) + ", " + s
	}
	return s
}

// changeDoc describes what changed from a to b.
func changeDoc(a, b storeLevel) string {
	s := fmtSizeDelta(b.Size - a.Size)
	if b.Unit != "" {
		s = fmtCountDelta(b.Count-a.Count) + " " + b.Unit + ", " + s
	}
	return s
}

func infoDoc(l storeLevel) string {
	var parts []string
	for _, i := range l.Info {
		parts = append(parts, i.Name+" "+fmtSize(i.Bytes))
	}
	return strings.Join(parts, "; ")
}

func anonymousTable(results []anonResult) string {
	var b strings.Builder
	b.WriteString("| store | step | requests | answers | req/s | p50 | p99 | token requests | keys or rows | size (judged) | other sizes | rp's resident memory |\n" +
		"|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, r := range results {
		if r.Err != nil && len(r.Phases) == 0 {
			why := "failed: "
			if r.Skipped {
				why = "not run: "
			}
			fmt.Fprintf(&b, "| %s | — | — | — | — | — | — | — | — | — | — | %s |\n", r.Target.Label, mdCell(why+r.Err.Error()))
			continue
		}
		count := func(l storeLevel, prev *storeLevel) string {
			if l.Unit == "" {
				return "—"
			}
			s := fmtRate(float64(l.Count))
			if prev != nil {
				s += " (" + fmtCountDelta(l.Count-prev.Count) + ")"
			}
			return s
		}
		size := func(l storeLevel, prev *storeLevel) string {
			s := fmtSize(l.Size)
			if prev != nil {
				s += " (" + fmtSizeDelta(l.Size-prev.Size) + ")"
			}
			return s
		}
		rss := func(n int64) string {
			if n == 0 {
				return "—"
			}
			return fmtSize(n)
		}
		fmt.Fprintf(&b, "| %s | before | | | | | | | %s | %s | %s | %s |\n", r.Target.Label, count(r.Before, nil), size(r.Before, nil),
			mdCell(infoDoc(r.Before)), rss(r.RSSBefore))
		prev := r.Before
		for i, p := range r.Phases {
			mem := ""
			if i == len(r.Phases)-1 {
				mem = rss(r.RSSAfter)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s |\n", r.Target.Label, mdCell(p.What), fmtRate(float64(p.Sent)),
				statusesDoc(p.Load.Statuses), fmtRate(p.Load.RPS()), fmtDur(p.Load.P50), fmtDur(p.Load.P99), p.Tokens,
				count(p.After, &prev), size(p.After, &prev), mdCell(infoDoc(p.After)), mem)
			prev = p.After
		}
		if r.Err != nil {
			fmt.Fprintf(&b, "| %s | failed after %d steps | | | | | | | | | | %s |\n", r.Target.Label, len(r.Phases), mdCell(r.Err.Error()))
		}
	}
	return b.String()
}

// partsDoc is the keys or rows by table or key prefix, before and after
// each step: "sessions 1 → 100,001 → 100,001 → 100,002".
func partsDoc(r anonResult) string {
	levels := []storeLevel{r.Before}
	for _, p := range r.Phases {
		levels = append(levels, p.After)
	}
	var names []string
	for _, l := range levels {
		for n := range l.Parts {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	var parts []string
	for _, n := range names {
		var xs []string
		for _, l := range levels {
			xs = append(xs, fmtRate(float64(l.Parts[n])))
		}
		parts = append(parts, "`"+n+"` "+strings.Join(xs, " → "))
	}
	return strings.Join(parts, "; ")
}

func anonymousMarkdown(h *Harness, results []anonResult, table string, began time.Time) string {
	o := h.Opts
	sc := scenarioByName("anonymous")
	var b strings.Builder
	b.WriteString(reportHead(sc.Name, sc.Title, began))
	b.WriteString(machineMarkdown(&h.Machine, o))
	fmt.Fprintf(&b, "- **Load**: rpbench's own load generator, %d keep-alive connections, no cookie jar; per store %s `GET /login`, "+
		"then twice %s `GET /callback` (the steps below), each step a fixed number of requests sent as fast as rp answers them.\n\n",
		o.Connections, fmtRate(float64(o.AnonLogins)), fmtRate(float64(o.AnonCallbacks)))
	b.WriteString(table)
	b.WriteString("\nAnswers counts rp's answers by status; a step's requests must all be answered as wanted (a redirect to the provider for `/login`, " +
		"a refusal for a forged `/callback`). Token requests are the code exchanges rp sent the provider during the step. " +
		"Keys or rows and the sizes are measured after each step, the change from the step before in parentheses.\n\n")
	b.WriteString("## The goal\n\nNo key or row added over the three steps, and the judged size unchanged within the store's tolerance:\n\n")
	for _, r := range results {
		j := anonymousJudged(r, o)
		fmt.Fprintf(&b, "- **%s**: %s (goal %s): %s.", r.Target.Label, j.Measured, j.Goal, j.Status)
		if r.SizeOf != "" {
			fmt.Fprintf(&b, " Size: %s; tolerance %s: %s.", r.SizeOf, r.Tolerance, r.Why)
		}
		if p := partsDoc(r); p != "" {
			fmt.Fprintf(&b, " By table or key prefix, before and after each step: %s.", p)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n" + sc.About + "\n\n## Targets\n\n")
	for _, t := range sc.Targets {
		fmt.Fprintf(&b, "- **%s**: %s\n", t.Label, t.About)
	}
	b.WriteString("\n## What was checked\n\n")
	for _, r := range results {
		if len(r.Checks) > 0 {
			fmt.Fprintf(&b, "- **%s**: %s.\n", r.Target.Label, strings.Join(r.Checks, "; "))
		}
	}
	b.WriteString("\n## Caveats\n\n")
	for _, c := range sc.Caveats {
		fmt.Fprintf(&b, "- %s\n", c)
	}
	fmt.Fprintf(&b, "\n## Reproduce\n\n```sh\n%s\n```\n", reproduceCommand(o, sc.Name))
	return b.String()
}
