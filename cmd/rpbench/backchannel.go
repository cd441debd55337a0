package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rp-project/rp/internal/app"
	"github.com/rp-project/rp/internal/session"
	"github.com/rp-project/rp/internal/testprovider"
)

// The backchannel scenario: how long a back-channel logout takes with 10^3,
// 10^5 and 10^6 sessions stored. The store is filled before rp starts,
// straight through internal/session's bulk fill (the sessions rp would
// store after a Keycloak sign-in), then rp ends randomly chosen stored
// sessions one by one, each on a real POST /backchannel-logout with a
// logout token signed by the test provider.

// backchannelGoal is the bound: p50 at the most sessions within
// this factor of p50 at the fewest.
const backchannelGoal = 1.5

func backchannelScenario() *Scenario {
	sc := &Scenario{
		Name:  "backchannel",
		Title: "back-channel logout latency by the number of stored sessions",
		About: "For each store, rpbench fills it with realistic sessions (Keycloak-sized tokens, a dozen claims, a CSRF token: " +
			"`session.RealisticSession`, the same as `BenchmarkBackchannelLogout`), each with its index entry (issuer, sub, sid), " +
			"with internal/session's bulk fill (`Manager.Fill`), then starts rp on it. rp receives one logout at a time: " +
			"`POST /backchannel-logout` with a form holding a logout token for the sid of a stored session chosen at random " +
			"(signed by the test provider with RS256, a fresh jti, prepared before the timing). rp verifies the token (its signature " +
			"against the provider's keys, fetched once, and its claims), claims its jti in the store, finds the session through the " +
			"(iss, sid) index and deletes it. The latency is the time from sending the request to reading rp's answer (200), " +
			"on a keep-alive connection. A few logouts before the measured ones warm rp up (the provider's keys, the connection). " +
			"The logouts go in passes of at most a tenth of the sessions stored; after each pass rpbench checks in the store that each ended session " +
			"and its index entry are gone and that sessions not logged out are still there, then stores the ended ones again. " +
			"rp is stopped while the store is filled up to the next size, and started again on it.",
		Caveats: []string{
			"The memory store lives inside rp's process and cannot be filled from outside: for it, rpbench runs rp in its own process " +
				"(`internal/app`, the same handler as the binary) on a loopback listener, fills it through the same bulk fill, and sends the same requests. " +
				"Its latencies include no process boundary beyond the loopback connection; they are comparable between sizes, which is what the goal judges.",
			"Store bytes per session is the store's growth divided by the sessions added: SQLite's database pages, PostgreSQL's relations " +
				"(rp_sessions and rp_session_index, with their indexes and TOAST), Redis's used memory (the whole server's), SQLite's in-memory pages for the memory store.",
			"PostgreSQL commits every logout (claiming the jti, then deleting the session) synchronously to its write-ahead log: " +
				"its latency is mostly the disk's flush time, not the number of sessions.",
		},
		Steps: func(o Options, selected []*Target) int { return len(selected) * len(o.Sessions) },
	}
	sc.Targets = []*Target{
		{Name: "sqlite", Label: "rp, sqlite store", About: "rp, " + storeSpecDoc["sqlite"] + "."},
		{Name: "redis", Label: "rp, redis store", About: "rp, " + storeSpecDoc["redis"] + "."},
		{Name: "postgres", Label: "rp, postgres store", About: "rp, " + storeSpecDoc["postgres"] + "."},
		// Last: its sessions stay in rpbench's memory until the run ends.
		{Name: "memory", Label: "rp, memory store (in rpbench's process)", About: "rp, " + storeSpecDoc["memory"] + ", run in rpbench's process (see the caveats)."},
	}
	sc.Measure = measureBackchannel
	return sc
}

// bcSize is one store at one size.
type bcSize struct {
	Sessions      int
	P50, P99, Max time.Duration
	Logouts       int
	Passes        int           // of at most a tenth of the sessions each
	Fill          time.Duration // filling up to this size (from the previous one)
	BytesPer      float64       // the store's growth per session added
}

// bcResult is one store's sizes.
type bcResult struct {
	Target  *Target
	Sizes   []bcSize
	Checks  []string
	Err     error
	Skipped bool
}

func measureBackchannel(h *Harness, selected []*Target) (*ScenarioRun, error) {
	began := time.Now().UTC()
	op, stop := startProvider()
	defer stop()
	h.Progress("test provider at %s; sizes %s, %d logouts measured per size", op.Issuer, joinInts(h.Opts.Sessions), h.Opts.Logouts)
	blob, err := session.RealisticSession()
	if err != nil {
		return nil, err
	}
	var results []bcResult
	for _, t := range selected {
		r := measureBackchannelStore(h, op, t, blob)
		if h.Ctx.Err() != nil {
			return nil, h.Ctx.Err()
		}
		if r.Err != nil {
			what := "FAILED"
			if r.Skipped {
				what = "skipped"
			}
			h.Progress("backchannel %s: %s: %v", t.Name, what, r.Err)
		}
		results = append(results, r)
	}
	run := &ScenarioRun{}
	sizes := h.Opts.Sessions
	for _, r := range results {
		run.Judged = append(run.Judged, backchannelJudged(r, sizes))
		run.Failed = run.Failed || r.Err != nil && !r.Skipped
	}
	run.Console = backchannelTable(results, sizes)
	run.Markdown = backchannelMarkdown(h, results, sizes, began)
	return run, nil
}

// backchannelJudged judges p50 at the most sessions against p50 at the
// fewest.
func backchannelJudged(r bcResult, sizes []int) Judged {
	lo, hi := sizes[0], sizes[len(sizes)-1]
	j := Judged{Scenario: "backchannel", What: fmt.Sprintf("logout p50 at %s ÷ at %s sessions, %s", fmtCount(hi), fmtCount(lo), strings.TrimPrefix(r.Target.Label, "rp, ")),
		Goal: "≤ " + trimFloat(backchannelGoal), Limit: backchannelGoal, Unit: "×", Measured: "—", Status: "n/a"}
	var pLo, pHi time.Duration
	for _, s := range r.Sizes {
		if s.Sessions == lo {
			pLo = s.P50
		}
		if s.Sessions == hi {
			pHi = s.P50
		}
	}
	switch {
	case r.Err != nil:
		j.Status = "n/a (" + r.Err.Error() + ")"
	case len(sizes) < 2:
		j.Status = "n/a (one size measured)"
	case pLo > 0 && pHi > 0:
		j.Value = float64(pHi) / float64(pLo)
		j.Measured = fmt.Sprintf("%s (%s vs %s)", fmtRatio(j.Value, backchannelGoal), fmtDur(pHi), fmtDur(pLo))
		j = judge(j, false)
	}
	return j
}

// fmtCount is n as a power of ten when it is one (10⁶), else with commas.
func fmtCount(n int) string {
	const sup = "⁰¹²³⁴⁵⁶⁷⁸⁹"
	for e, p := 1, 10; p <= n; e, p = e+1, p*10 {
		if p == n {
			exp := ""
			for _, d := range fmt.Sprint(e) {
				exp += string([]rune(sup)[d-'0'])
			}
			return "10" + exp
		}
	}
	return fmtRate(float64(n))
}

// bcTarget is rp on one store, as the scenario drives it.
type bcTarget struct {
	h     *Harness
	op    *testprovider.Provider
	t     *Target
	spec  string
	blob  session.Filled
	stop  func()   // stops rp
	url   string   // rp's base URL
	inApp *app.App // the memory store: rp in this process
}

func measureBackchannelStore(h *Harness, op *testprovider.Provider, t *Target, blob session.Filled) (r bcResult) {
	r.Target = t
	st := stores[slices.IndexFunc(stores, func(s store) bool { return s.name == t.Name })]
	spec, cleanup, err := st.prepare(h)
	if err != nil {
		r.Err, r.Skipped = err, errors.Is(err, errSkip)
		for range h.Opts.Sessions {
			h.Step("backchannel " + t.Name + " (not run)")
		}
		return r
	}
	defer cleanup()
	if path, ok := strings.CutPrefix(spec, "sqlite:"); ok {
		defer func() {
			for _, f := range []string{path, path + "-wal", path + "-shm", path + ".rp-lock"} {
				_ = os.Remove(f)
			}
		}()
	}
	bt := &bcTarget{h: h, op: op, t: t, spec: spec, blob: blob}
	defer bt.stopRP()
	if t.Name == "memory" {
		if err := bt.startInProcess(); err != nil {
			r.Err = err
			return r
		}
	}
	open := func() (*session.Manager, error) {
		if bt.inApp != nil {
			return bt.inApp.Sessions, nil
		}
		return session.Open(h.Ctx, session.Options{Store: spec, Lifetime: 24 * time.Hour})
	}
	closeM := func(m *session.Manager) {
		if bt.inApp == nil {
			_ = m.Close()
		}
	}
	filled := 0
	rng := rand.New(rand.NewPCG(1, 2))
	for si, n := range h.Opts.Sessions {
		prefix := h.Step(fmt.Sprintf("backchannel %s %s sessions", t.Name, fmtCount(n)))
		if si > 0 || t.Name != "memory" {
			h.waitIdle(prefix)
		}
		size := bcSize{Sessions: n}
		m, err := open()
		if err != nil {
			r.Err = fmt.Errorf("opening the store to fill it: %w", err)
			return r
		}
		before, err := m.StoreBytes(h.Ctx)
		if err != nil {
			closeM(m)
			r.Err = fmt.Errorf("measuring the store: %w", err)
			return r
		}
		h.Progress("%s: filling the store from %s to %s sessions", prefix, fmtRate(float64(filled)), fmtRate(float64(n)))
		t0 := time.Now()
		if err := m.Fill(h.Ctx, op.Issuer, filled, n, blob); err != nil {
			closeM(m)
			r.Err = fmt.Errorf("filling the store: %w", err)
			return r
		}
		size.Fill = time.Since(t0)
		after, err := m.StoreBytes(h.Ctx)
		if err == nil && n > filled {
			size.BytesPer = float64(after-before) / float64(n-filled)
		}
		filled = n
		closeM(m) // before rp starts: a SQLite file's lock goes to rp
		h.Progress("%s: filled in %s (%.0f store bytes per session); starting rp", prefix, size.Fill.Round(time.Millisecond), size.BytesPer)
		if bt.inApp == nil {
			if err := bt.startRP(); err != nil {
				r.Err = err
				return r
			}
		}

		// Passes of distinct random sessions, each at most a tenth of
		// those stored, so that the store keeps its size within 10%: the
		// first pass begins with a few logouts to warm up; after each
		// pass the ended sessions are checked and stored again, with rp
		// running (a second rp instance could be writing the store too).
		warm := min(50, max(5, h.Opts.Logouts/10))
		perPass := max(2, n/10)
		client := &http.Client{Timeout: 30 * time.Second}
		var lat []time.Duration
		passes, checked := 0, 0
		for len(lat) < h.Opts.Logouts {
			count := min(perPass, h.Opts.Logouts-len(lat))
			skip := 0
			if passes == 0 {
				count = min(perPass, count+warm)
				skip = min(warm, count-1)
			}
			passes++
			pick := map[int]bool{}
			var order []int
			for len(order) < count {
				if i := rng.IntN(n); !pick[i] {
					pick[i] = true
					order = append(order, i)
				}
			}
			tokens := make([]string, len(order))
			for k, i := range order {
				tokens[k] = op.LogoutToken(op.LogoutClaims("", session.FillSID(i)), testprovider.TokenHeader{})
			}
			if passes == 1 {
				h.Progress("%s: %d logouts one at a time (%d to warm up first), in passes of at most %d", prefix, h.Opts.Logouts, skip, perPass)
			}
			for k := range order {
				d, err := bt.logout(client, tokens[k])
				if err != nil {
					r.Err = fmt.Errorf("logout of session %d of %d: %w", order[k], n, err)
					return r
				}
				if k >= skip {
					lat = append(lat, d)
				}
			}
			// Did each logout end its session, and only its session?
			var controls []int
			for len(controls) < min(20, n-len(order)) {
				if i := rng.IntN(n); !pick[i] && !slices.Contains(controls, i) {
					controls = append(controls, i)
				}
			}
			m, err := open()
			if err != nil {
				r.Err = fmt.Errorf("opening the store to check it: %w", err)
				return r
			}
			err = checkEnded(h.Ctx, m, order, controls)
			for _, i := range order {
				if err == nil {
					err = m.PutBack(h.Ctx, op.Issuer, i, blob)
				}
			}
			closeM(m)
			if err != nil {
				r.Err = err
				return r
			}
			checked += len(order)
		}
		client.CloseIdleConnections()
		if bt.inApp == nil {
			bt.stopRP()
		}
		slices.Sort(lat)
		size.Logouts, size.Passes = len(lat), passes
		size.P50, size.P99, size.Max = percentile(lat, 50), percentile(lat, 99), lat[len(lat)-1]
		h.Progress("%s: p50 %s, p99 %s, max %s over %d logouts in %s; checked: each of the %d ended sessions and its index entry were gone, 20 others still stored after each pass",
			prefix, fmtDur(size.P50), fmtDur(size.P99), fmtDur(size.Max), size.Logouts, plural(passes, "pass", "passes"), checked)
		r.Sizes = append(r.Sizes, size)
	}
	r.Checks = append(r.Checks, "at every size, each logout answered 200; after each pass each ended session and its index entry were gone from the store, "+
		"and 20 sessions not logged out, chosen at random, were still stored")
	return r
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// checkEnded checks in the store that the sessions ended are gone, with
// their index entries, and the controls are still there.
func checkEnded(ctx context.Context, m *session.Manager, ended, controls []int) error {
	for _, i := range ended {
		s, e, err := m.Stored(ctx, session.FillKey(i))
		if err != nil {
			return fmt.Errorf("checking the store: %w", err)
		}
		if s || e {
			return fmt.Errorf("session %d is still stored after its logout (session %v, index entry %v)", i, s, e)
		}
	}
	for _, i := range controls {
		s, e, err := m.Stored(ctx, session.FillKey(i))
		if err != nil {
			return fmt.Errorf("checking the store: %w", err)
		}
		if !s || !e {
			return fmt.Errorf("session %d, never logged out, is gone (session %v, index entry %v)", i, s, e)
		}
	}
	return nil
}

// logout sends one back-channel logout and returns its latency.
func (bt *bcTarget) logout(client *http.Client, token string) (time.Duration, error) {
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(bt.h.Ctx, http.MethodPost, bt.url+"/backchannel-logout", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	t0 := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	res.Body.Close()
	d := time.Since(t0)
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("POST /backchannel-logout: %d %s", res.StatusCode, strings.TrimSpace(string(b)))
	}
	return d, nil
}

func (bt *bcTarget) startRP() error {
	p, addr, err := spawnRP(bt.h, "rp-backchannel-"+bt.t.Name, bt.op, bt.spec)
	if err != nil {
		return err
	}
	bt.url, bt.stop = "http://"+addr, p.Stop
	return nil
}

func (bt *bcTarget) stopRP() {
	if bt.stop != nil {
		bt.stop()
		bt.stop = nil
	}
}

// startInProcess runs rp on the memory store in this process.
func (bt *bcTarget) startInProcess() error {
	a, base, stop, err := startRPInProcess(bt.h, bt.op, "rp-backchannel-memory")
	if err != nil {
		return err
	}
	bt.inApp, bt.url, bt.stop = a, base, stop
	return nil
}

func backchannelTable(results []bcResult, sizes []int) string {
	var b strings.Builder
	b.WriteString("| store | sessions | logouts | p50 | p99 | max | filled in | store bytes per session | p50 ÷ p50 at " + fmtCount(sizes[0]) + " |\n" +
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		if len(r.Sizes) == 0 {
			why := "failed: "
			if r.Skipped {
				why = "not run: "
			}
			msg := "no size measured"
			if r.Err != nil {
				msg = r.Err.Error()
			}
			fmt.Fprintf(&b, "| %s | — | — | — | — | — | — | — | %s |\n", r.Target.Label, mdCell(why+msg))
			continue
		}
		for _, s := range r.Sizes {
			ratio := "—"
			if r.Sizes[0].P50 > 0 && r.Sizes[0].Sessions == sizes[0] {
				ratio = fmt.Sprintf("%.2f", float64(s.P50)/float64(r.Sizes[0].P50))
			}
			per := "—"
			if s.BytesPer > 0 {
				per = fmtRate(s.BytesPer)
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", r.Target.Label, fmtRate(float64(s.Sessions)), s.Logouts,
				fmtDur(s.P50), fmtDur(s.P99), fmtDur(s.Max), s.Fill.Round(100*time.Millisecond), per, ratio)
		}
		if r.Err != nil {
			fmt.Fprintf(&b, "| %s | failed after %d sizes | | | | | | | %s |\n", r.Target.Label, len(r.Sizes), mdCell(r.Err.Error()))
		}
	}
	return b.String()
}

func backchannelMarkdown(h *Harness, results []bcResult, sizes []int, began time.Time) string {
	sc := scenarioByName("backchannel")
	var b strings.Builder
	b.WriteString(reportHead(sc.Name, sc.Title, began))
	b.WriteString(machineMarkdown(&h.Machine, h.Opts))
	fmt.Fprintf(&b, "- **Load**: one logout at a time, for a session chosen at random among those stored: %d measured per store and size "+
		"(after a few to warm up), in passes of at most a tenth of the sessions stored, so that the store keeps its size within 10%%: "+
		"after each pass the ended sessions are checked and stored again.\n\n", h.Opts.Logouts)
	b.WriteString(backchannelTable(results, sizes))
	fmt.Fprintf(&b, "\nThe goal: p50 with %s sessions stored within %s× of p50 with %s.\n\n", fmtCount(sizes[len(sizes)-1]), trimFloat(backchannelGoal), fmtCount(sizes[0]))
	for _, r := range results {
		j := backchannelJudged(r, sizes)
		fmt.Fprintf(&b, "- %s: %s (goal %s): %s.\n", r.Target.Label, j.Measured, j.Goal, j.Status)
	}
	b.WriteString("\n" + sc.About + "\n\n## Targets\n\n")
	for _, t := range sc.Targets {
		fmt.Fprintf(&b, "- **%s**: %s\n", t.Label, t.About)
	}
	b.WriteString("\n## What was checked\n\n")
	for _, r := range results {
		for _, c := range r.Checks {
			fmt.Fprintf(&b, "- **%s**: %s.\n", r.Target.Label, c)
		}
	}
	b.WriteString("\n## Caveats\n\n")
	for _, c := range sc.Caveats {
		fmt.Fprintf(&b, "- %s\n", c)
	}
	fmt.Fprintf(&b, "\n## Reproduce\n\n```sh\n%s\n```\n", reproduceCommand(h.Opts, sc.Name))
	return b.String()
}
