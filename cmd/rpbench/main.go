// Command rpbench measures rp against baselines on this machine, every
// scenario in one run: each server under test runs as its own process on
// loopback, rpbench's own load generator (keep-alive HTTP/1.1 connections
// with a small client of its own) measures them all with the same settings,
// and each result is given as a ratio to a baseline measured in the same
// run, or as rp's own CPU time, latency or memory, which carry over to
// other machines better than absolute numbers.
//
//	go run ./cmd/rpbench                                   # every scenario (about 13 minutes on 2 cores)
//	go run ./cmd/rpbench -scenario pages,signin            # some scenarios
//	go run ./cmd/rpbench -scenario proxy -count 5          # five rounds: medians and ranges
//	go run ./cmd/rpbench -scenario proxy -targets direct,bare,memory -duration 3s
//	go run ./cmd/rpbench -scenario backchannel -sessions 1000,100000 -logouts 200
//	go run ./cmd/rpbench -scenario anonymous -targets redis  # does anonymous load grow the store?
//	go run ./cmd/rpbench -scenario proxy -targets memory -profile /tmp/prof   # perf record -g of rp
//	go run ./cmd/rpbench -list                             # scenarios and their targets
//
// Scenarios, in the order they run:
//
//	proxy        authenticated requests through rp in proxy mode (RP_UPSTREAM)
//	             on each session store, against the upstream direct, a bare
//	             httputil.ReverseProxy and oauth2-proxy
//	pages        authenticated GET /profile on each store, against a bare
//	             net/http handler rendering the same templates
//	signin       complete sign-ins per second and rp's CPU time per sign-in
//	             (SQLite, the default store, and memory)
//	memory       resident memory per session in the memory store
//	backchannel  back-channel logout latency with 10^3, 10^5 and 10^6
//	             sessions stored (-sessions), on each store
//	anonymous    what 10^5 anonymous GET /login (-anonymous-logins) and
//	             forged GET /callback add to each store: keys or rows and
//	             bytes, measured from outside rp; the goal is nothing
//
// Every goal of the issue is printed at the end as met, not met or n/a. The
// exit status is 1 when a scenario or a target failed to run (a store server
// that is not reachable is skipped, not failed), 2 on a usage error, and 0
// otherwise, whether the goals were met or not: a missed goal is a result.
//
// Run it from the repository: it builds ./cmd/rp with go build (or takes
// -rp-bin). The proxy scenario's first run also builds oauth2-proxy (go
// install, a few minutes) into the user cache directory and reuses it
// afterwards. It flushes the Redis database of -redis (9 by default;
// database 0 is refused) and drops and creates the PostgreSQL database of
// -postgres (rpbench; postgres and test are refused); a target whose store
// server is not reachable is reported as not run. The backchannel scenario
// needs some 20 GB of free disk and 12 GB of free memory at 10^6 sessions
// (each store is emptied after its turn; the memory store's sessions stay
// in rpbench's process until the run ends).
//
// Reports: each scenario whose every target ran writes
// docs/benchmarks/<scenario>.md (-out-dir; -out FILE for the one scenario
// selected, -out= for no files), and a run of every scenario writes the
// summary docs/benchmarks/README.md (the machine, the command, every goal)
// and its chart docs/benchmarks/summary.svg.
//
// On a shared machine rpbench waits for it to be idle before each target
// (-wait-idle) and measures a throughput target again when other processes
// took more than 10% of the CPU time during its window (-retries).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options are rpbench's flags.
type Options struct {
	Scenarios     []string // in the order of scenarios()
	Targets       []string // empty: all
	Duration      time.Duration
	Warmup        time.Duration
	Connections   int
	Count         int
	Out           string // one scenario's report file (-out)
	OutSet        bool
	OutDir        string // where the reports go ("" for none)
	KeepLogs      bool
	WaitIdle      time.Duration
	ProfileDir    string
	Retries       int
	RPEnv         []string // extra environment for rp (experiments)
	RPBin         string
	OAuth2Proxy   string
	RedisURL      string
	PostgresURL   string
	SigninConns   int    // concurrent sign-ins
	Sessions      []int  // the back-channel scenario's store sizes
	Logouts       int    // back-channel logouts measured per store and size
	MemSessions   int    // sessions stored by the memory scenario
	AnonLogins    int    // anonymous GET /login of the anonymous scenario
	AnonCallbacks int    // forged GET /callback in each callback step of the anonymous scenario
	Note          string // shown at the top of every report and on the chart
}

// defaultOptions are the flags' defaults.
func defaultOptions() Options {
	return Options{
		Duration: 5 * time.Second, Warmup: 2 * time.Second, Connections: 64, Count: 1,
		WaitIdle: 3 * time.Minute, Retries: 2, OutDir: filepath.Join("docs", "benchmarks"),
		RedisURL:    "redis://127.0.0.1:6379/9",
		PostgresURL: "postgres://postgres@127.0.0.1:5432/rpbench?sslmode=disable",
		SigninConns: 8, Sessions: []int{1_000, 100_000, 1_000_000}, Logouts: 1000, MemSessions: 100_000,
		AnonLogins: 100_000, AnonCallbacks: 10_000,
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == cmdMemory {
		os.Exit(serveMemory(os.Args[2:]))
	}
	if isSub(os.Args[1:]) {
		os.Exit(serveSub(os.Args[1], os.Args[2:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage is a parse error already reported (exit status 2).
var errUsage = errors.New("usage")

// parseOptions parses the command line; list is -list. It reports its
// errors on stderr and returns errUsage (or flag.ErrHelp).
func parseOptions(args []string, stderr io.Writer) (o Options, list bool, err error) {
	fs := flag.NewFlagSet("rpbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o = defaultOptions()
	d := o
	var scenarioList, targets, sessions string
	fs.StringVar(&scenarioList, "scenario", "", "comma separated scenarios to run (default: all of them; -list shows them)")
	fs.StringVar(&targets, "targets", "", "comma separated targets to run in each selected scenario that has them, in the scenario's order (default: all)")
	fs.DurationVar(&o.Duration, "duration", d.Duration, "measured time per target (pages, proxy, signin)")
	fs.DurationVar(&o.Warmup, "warmup", d.Warmup, "warm-up per target, on the same connections, not measured")
	fs.IntVar(&o.Connections, "c", d.Connections, "concurrent keep-alive connections (one request in flight on each)")
	fs.IntVar(&o.Count, "count", d.Count, "rounds: every target is measured once per round, and the round with the median throughput is reported")
	fs.StringVar(&o.Out, "out", "", "the report file of the one scenario run (default <-out-dir>/<scenario>.md when every target runs; -out= for none)")
	fs.StringVar(&o.OutDir, "out-dir", d.OutDir, "directory of the reports, the summary README.md and summary.svg (\"\" for none)")
	fs.DurationVar(&o.WaitIdle, "wait-idle", d.WaitIdle, "before each target, wait at most this long for the machine to be under 15% busy (0: do not wait)")
	fs.IntVar(&o.Retries, "retries", d.Retries, "measure a target again, at most this many times, when other processes took over 10% of the machine's CPU time during its window")
	fs.Func("rp-env", "extra `KEY=VALUE` in rp's environment, e.g. GOGC=200 or RP_LOG_LEVEL=warn (repeatable; for experiments: the report names them)", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		o.RPEnv = append(o.RPEnv, v)
		return nil
	})
	fs.StringVar(&o.ProfileDir, "profile", "", "record each server's CPU profile during the measured window with perf record -g into this directory")
	fs.BoolVar(&o.KeepLogs, "keep-logs", false, "keep the servers' logs and the temporary directory")
	fs.StringVar(&o.RPBin, "rp-bin", "", "rp binary to measure (default: go build ./cmd/rp)")
	fs.StringVar(&o.OAuth2Proxy, "oauth2-proxy", "", "oauth2-proxy binary (default: "+oauth2ProxyModule+"@"+oauth2ProxyVersion+", built once into the user cache directory)")
	fs.StringVar(&o.RedisURL, "redis", d.RedisURL, "Redis database for rp's redis store; rpbench FLUSHES it before and after (database 0 is refused)")
	fs.StringVar(&o.PostgresURL, "postgres", d.PostgresURL, "PostgreSQL database for rp's postgres store; rpbench DROPS and creates it, and drops it after")
	fs.IntVar(&o.SigninConns, "signin-c", d.SigninConns, "concurrent sign-ins (signin)")
	fs.StringVar(&sessions, "sessions", joinInts(d.Sessions), "comma separated numbers of stored sessions (backchannel)")
	fs.IntVar(&o.Logouts, "logouts", d.Logouts, "back-channel logouts measured per store and number of sessions (backchannel)")
	fs.IntVar(&o.MemSessions, "memory-sessions", d.MemSessions, "sessions stored in the memory store to measure memory per session (memory)")
	fs.IntVar(&o.AnonLogins, "anonymous-logins", d.AnonLogins, "anonymous GET /login sent per store (anonymous)")
	fs.IntVar(&o.AnonCallbacks, "anonymous-callbacks", d.AnonCallbacks, "forged GET /callback sent per store in each of the two callback steps (anonymous)")
	fs.StringVar(&o.Note, "note", "", "a note shown at the top of every report and on the chart, e.g. \"provisional: measured on a busy machine\"")
	fs.BoolVar(&list, "list", false, "list the scenarios and their targets")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, false, err
		}
		return o, false, errUsage
	}
	fail := func(format string, a ...any) (Options, bool, error) {
		fmt.Fprintf(stderr, "rpbench: "+format+"\n", a...)
		return o, false, errUsage
	}
	if fs.NArg() > 0 {
		return fail("unexpected arguments %q", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) { o.OutSet = o.OutSet || f.Name == "out" })
	all := scenarios()
	var selected []*Scenario
	if scenarioList == "" {
		selected = all
	} else {
		for _, name := range strings.Split(scenarioList, ",") {
			name = strings.TrimSpace(name)
			i := slices.IndexFunc(all, func(s *Scenario) bool { return s.Name == name })
			if i < 0 {
				return fail("no scenario %q (there are %s)", name, scenarioNames(all))
			}
			if !slices.Contains(selected, all[i]) {
				selected = append(selected, all[i])
			}
		}
		slices.SortFunc(selected, func(a, b *Scenario) int {
			return slices.Index(all, a) - slices.Index(all, b)
		})
	}
	for _, s := range selected {
		o.Scenarios = append(o.Scenarios, s.Name)
	}
	if targets != "" {
		for _, t := range strings.Split(targets, ",") {
			t = strings.TrimSpace(t)
			if !slices.ContainsFunc(selected, func(s *Scenario) bool { return s.target(t) != nil }) {
				var have []string
				for _, s := range selected {
					have = append(have, s.Name+": "+targetNames(s.Targets))
				}
				return fail("no selected scenario has a target %q (%s)", t, strings.Join(have, "; "))
			}
			o.Targets = append(o.Targets, t)
		}
	}
	if sessions != "" {
		o.Sessions = nil
		for _, f := range strings.Split(sessions, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return fail("-sessions: %q is not a positive number", f)
			}
			o.Sessions = append(o.Sessions, n)
		}
		slices.Sort(o.Sessions)
		o.Sessions = slices.Compact(o.Sessions)
	}
	if o.Duration <= 0 || o.Warmup < 0 || o.Connections < 1 || o.Count < 1 || o.Retries < 0 ||
		o.SigninConns < 1 || o.Logouts < 1 || o.MemSessions < 1 || o.AnonLogins < 1 || o.AnonCallbacks < 1 {
		return fail("-duration must be positive, -warmup and -retries not negative, -c, -count, -signin-c, -logouts, -memory-sessions, -anonymous-logins and -anonymous-callbacks at least 1")
	}
	if o.OutSet && o.Out != "" && len(selected) != 1 {
		return fail("-out names one report file: select one scenario with -scenario, or use -out-dir")
	}
	if o.OutSet && o.Out == "" {
		o.OutDir = "" // -out= : no files at all
	}
	return o, list, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, list, err := parseOptions(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	}
	if list {
		for _, s := range scenarios() {
			fmt.Fprintf(stdout, "%s: %s\n", s.Name, s.Title)
			for _, t := range s.Targets {
				fmt.Fprintf(stdout, "  %-13s %s\n", t.Name, t.Label)
			}
		}
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h, err := NewHarness(ctx, o, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "rpbench: %v\n", err)
		return 1
	}
	defer h.Close()
	sum, err := h.RunAll()
	if err != nil {
		fmt.Fprintf(stderr, "rpbench: %v\n", err)
		return 1
	}
	failed := false
	for _, r := range sum.Runs {
		if r.Console != "" {
			fmt.Fprintf(stdout, "\n== %s: %s\n\n%s", r.Scenario.Name, r.Scenario.Title, r.Console)
		}
		if r.Err != nil {
			fmt.Fprintf(stderr, "rpbench: scenario %s: %v\n", r.Scenario.Name, r.Err)
		}
		failed = failed || r.Failed || r.Err != nil
	}
	fmt.Fprintf(stdout, "\n%s\n", sum.GoalsText())
	if err := writeReports(sum, stdout); err != nil {
		fmt.Fprintf(stderr, "rpbench: %v\n", err)
		return 1
	}
	if failed {
		fmt.Fprintln(stdout, "some targets failed to run (see above): exit status 1")
		return 1
	}
	return 0
}

// writeReports writes each scenario's report whose every target was
// selected, and the summary when every scenario was.
func writeReports(sum *Summary, stdout io.Writer) error {
	o := sum.Opts
	write := func(path string, b []byte) error {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		fmt.Fprintf(stdout, "written: %s\n", path)
		return nil
	}
	for _, r := range sum.Runs {
		path := ""
		switch {
		case o.OutSet && o.Out != "":
			path = o.Out
		case o.OutDir != "" && !r.Partial && r.Err == nil:
			path = filepath.Join(o.OutDir, r.Scenario.Name+".md")
		}
		if path == "" || r.Markdown == "" {
			continue
		}
		if err := write(path, []byte(r.Markdown)); err != nil {
			return err
		}
	}
	if o.OutDir == "" || o.OutSet {
		return nil
	}
	complete := len(sum.Runs) == len(scenarios())
	for _, r := range sum.Runs {
		complete = complete && !r.Partial && r.Err == nil
	}
	if !complete {
		fmt.Fprintf(stdout, "(not every scenario and target ran: %s and summary.svg not written)\n", filepath.Join(o.OutDir, "README.md"))
		return nil
	}
	svg, err := sum.SVG()
	if err != nil {
		return fmt.Errorf("drawing the summary chart: %w", err)
	}
	if err := write(filepath.Join(o.OutDir, "README.md"), []byte(sum.Markdown())); err != nil {
		return err
	}
	return write(filepath.Join(o.OutDir, "summary.svg"), svg)
}

func targetNames(ts []*Target) string {
	var n []string
	for _, t := range ts {
		n = append(n, t.Name)
	}
	return strings.Join(n, ", ")
}

func scenarioNames(ss []*Scenario) string {
	var n []string
	for _, s := range ss {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}

// scenarios are all of rpbench's scenarios, in the order they run.
func scenarios() []*Scenario {
	return []*Scenario{proxyScenario(), pagesScenario(), signinScenario(), memoryScenario(), backchannelScenario(), anonymousScenario()}
}
