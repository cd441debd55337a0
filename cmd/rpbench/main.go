// Command rpbench measures rp against baselines on this machine: every
// server under test runs as its own process on loopback, one load generator
// (in rpbench's process: keep-alive HTTP/1.1 connections with a small client
// of its own) measures them all with the same settings in one run, and each
// result is also given as a ratio to the baselines measured in the same
// round, which carry over to other machines better than absolute numbers.
//
//	go run ./cmd/rpbench                                   # the proxy scenario, every target, one round
//	go run ./cmd/rpbench -count 5                          # five rounds: medians and ranges
//	go run ./cmd/rpbench -targets direct,bare,memory -duration 3s
//	go run ./cmd/rpbench -targets memory -profile /tmp/prof   # perf record -g of rp during the window
//	go run ./cmd/rpbench -list                             # scenarios and their targets
//
// Run it from the repository: it builds ./cmd/rp with go build (or takes
// -rp-bin). The proxy scenario's first run also builds oauth2-proxy (go
// install, a few minutes) into the user cache directory and reuses it
// afterwards. It flushes the Redis database of -redis (9 by default) and
// drops and creates the PostgreSQL database of -postgres (rpbench); a
// target whose store server is not reachable is reported as not run. The
// Markdown report goes to docs/benchmarks/<scenario>.md when every target
// ran (-out to choose another file, -out= for none).
//
// On a shared machine rpbench waits for it to be idle before each target
// (-wait-idle) and measures a target again when other processes took more
// than 10% of the CPU time during its window (-retries).
//
// Scenarios:
//
//	proxy  authenticated requests through rp in proxy mode (RP_UPSTREAM) on
//	       each session store, against the upstream direct, a bare
//	       httputil.ReverseProxy and oauth2-proxy (the default)
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
	"strings"
	"syscall"
	"time"
)

// Options are rpbench's flags.
type Options struct {
	Scenario    string
	Targets     []string // empty: all
	Duration    time.Duration
	Warmup      time.Duration
	Connections int
	Count       int
	Out         string
	OutSet      bool
	KeepLogs    bool
	WaitIdle    time.Duration
	ProfileDir  string
	Retries     int
	RPEnv       []string // extra environment for rp (experiments)
	RPBin       string
	OAuth2Proxy string
	RedisURL    string
	PostgresURL string
}

func main() {
	if isSub(os.Args[1:]) {
		os.Exit(serveSub(os.Args[1], os.Args[2:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rpbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	var targets string
	var list bool
	fs.StringVar(&o.Scenario, "scenario", "proxy", "scenario to run (-list shows them)")
	fs.StringVar(&targets, "targets", "", "comma separated targets of the scenario to run, in the scenario's order (default: all)")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "measured time per target")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "warm-up per target, on the same connections, not measured")
	fs.IntVar(&o.Connections, "c", 64, "concurrent keep-alive connections (one request in flight on each)")
	fs.IntVar(&o.Count, "count", 1, "rounds: every target is measured once per round, and the round with the median throughput is reported")
	fs.StringVar(&o.Out, "out", "", "Markdown report file (default docs/benchmarks/<scenario>.md when every target runs; \"\" with -out= for none)")
	fs.DurationVar(&o.WaitIdle, "wait-idle", 3*time.Minute, "before each target, wait at most this long for the machine to be under 15% busy (0: do not wait)")
	fs.IntVar(&o.Retries, "retries", 2, "measure a target again, at most this many times, when other processes took over 10% of the machine's CPU time during its window")
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
	fs.StringVar(&o.RedisURL, "redis", "redis://127.0.0.1:6379/9", "Redis database for rp's redis store; rpbench FLUSHES it before and after (database 0 is refused)")
	fs.StringVar(&o.PostgresURL, "postgres", "postgres://postgres@127.0.0.1:5432/rpbench?sslmode=disable", "PostgreSQL database for rp's postgres store; rpbench DROPS and creates it, and drops it after")
	fs.BoolVar(&list, "list", false, "list the scenarios and their targets")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rpbench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	fs.Visit(func(f *flag.Flag) { o.OutSet = o.OutSet || f.Name == "out" })
	if list {
		for _, s := range scenarios() {
			fmt.Fprintf(stdout, "%s: %s\n", s.Name, s.Title)
			for _, t := range s.Targets {
				fmt.Fprintf(stdout, "  %-13s %s\n", t.Name, t.Label)
			}
		}
		return 0
	}
	var sc *Scenario
	for _, s := range scenarios() {
		if s.Name == o.Scenario {
			sc = s
		}
	}
	if sc == nil {
		fmt.Fprintf(stderr, "rpbench: no scenario %q (-list shows them)\n", o.Scenario)
		return 2
	}
	if targets != "" {
		for _, t := range strings.Split(targets, ",") {
			t = strings.TrimSpace(t)
			if !slices.ContainsFunc(sc.Targets, func(x *Target) bool { return x.Name == t }) {
				fmt.Fprintf(stderr, "rpbench: scenario %s has no target %q (it has %s)\n", sc.Name, t, targetNames(sc.Targets))
				return 2
			}
			o.Targets = append(o.Targets, t)
		}
	}
	if o.Duration <= 0 || o.Warmup < 0 || o.Connections < 1 || o.Count < 1 || o.Retries < 0 {
		fmt.Fprintln(stderr, "rpbench: -duration must be positive, -warmup and -retries not negative, -c and -count at least 1")
		return 2
	}
	if !o.OutSet {
		if len(o.Targets) == 0 {
			o.Out = filepath.Join("docs", "benchmarks", sc.Name+".md")
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h, err := NewHarness(ctx, o, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "rpbench: %v\n", err)
		return 1
	}
	defer h.Close()
	rep, err := h.Run(sc)
	if err != nil {
		fmt.Fprintf(stderr, "rpbench: %v\n", err)
		return 1
	}
	md := rep.Markdown()
	fmt.Fprintf(stdout, "\n%s\n%s\n", rep.Table(), rep.CPUTable())
	if o.Out != "" {
		if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err == nil {
			err = os.WriteFile(o.Out, []byte(md), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "rpbench: writing %s: %v\n", o.Out, err)
			return 1
		}
		fmt.Fprintf(stdout, "report written to %s\n", o.Out)
	} else if len(o.Targets) > 0 && !o.OutSet {
		fmt.Fprintln(stdout, "(a subset of targets: no report file written; -out FILE writes one)")
	}
	if rep.Failed() {
		return 1
	}
	return 0
}

func targetNames(ts []*Target) string {
	var n []string
	for _, t := range ts {
		n = append(n, t.Name)
	}
	return strings.Join(n, ", ")
}

// scenarios are all of rpbench's scenarios; the first is the default.
func scenarios() []*Scenario {
	return []*Scenario{proxyScenario()}
}
