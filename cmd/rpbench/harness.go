package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Scenario is one benchmark: targets measured in order, the targets that
// serve as baselines for the ratio columns, and the goals to check.
type Scenario struct {
	Name, Title string
	About       string // Markdown: what is measured and how
	Targets     []*Target
	Baselines   []Baseline
	Goals       []Goal
	Caveats     []string // Markdown list items for the report
	Expect      string   // what a successful answer carries (default: the upstream's exact body)
	// Setup starts what the selected targets share (an upstream, a
	// provider) and returns what stops it.
	Setup func(h *Harness, selected []*Target) (teardown func(), err error)
	// Measure, when set, measures the selected targets its own way
	// instead of the load generator's throughput windows (Start, Setup,
	// Baselines and Goals are then unused), calling h.Step once per step
	// it announced with Steps.
	Measure func(h *Harness, selected []*Target) (*ScenarioRun, error)
	Steps   func(o Options, selected []*Target) int
}

func (sc *Scenario) target(name string) *Target {
	for _, t := range sc.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// selected are the scenario's targets that -targets selects.
func (sc *Scenario) selected(o Options) []*Target {
	if len(o.Targets) == 0 {
		return sc.Targets
	}
	var sel []*Target
	for _, t := range sc.Targets {
		if slices.Contains(o.Targets, t.Name) {
			sel = append(sel, t)
		}
	}
	return sel
}

// steps is how many progress steps the scenario takes for the selection.
func (sc *Scenario) steps(o Options, selected []*Target) int {
	if sc.Steps != nil {
		return sc.Steps(o, selected)
	}
	return len(selected) * o.Count
}

// Target is one server under test.
type Target struct {
	Name  string // for -targets
	Label string // in the table
	About string // Markdown, for the report
	// Start starts the server, signs in where there is something to sign
	// in to, checks that it proxies and authenticates, and returns what the
	// load generator sends it.
	Start func(h *Harness) (*Instance, error)
}

// Instance is a started target.
type Instance struct {
	Proc    *Proc   // the process whose CPU time is sampled
	Behind  *Proc   // the upstream behind it, if another process (its CPU time is sampled too)
	Request Request // what the load generator sends
	Want    []byte  // the body of a successful answer
	// WantContains: a successful answer's body holds Want, rather than
	// being exactly Want.
	WantContains bool
	Checks       []string
	Stop         func()
	// Counters, when set, are sampled at the window's start and end; the
	// differences are reported (e.g. connections the upstream accepted).
	Counters func() map[string]int64
	// StoreProcs are the command names of the store server's processes
	// (e.g. redis-server), whose CPU time is reported apart.
	StoreProcs []string
}

// Baseline names a target whose throughput other targets are divided by.
type Baseline struct {
	Target string
	Column string // table header, e.g. "× bare proxy"
}

// Goal is a throughput ratio a target must reach.
type Goal struct {
	Target, Baseline string
	Min              float64
}

func (g Goal) String() string {
	return fmt.Sprintf("≥ %s× %s", trimFloat(g.Min), g.Baseline)
}

// errSkip marks a target that cannot run here (a store server missing).
var errSkip = errors.New("skipped")

// Harness runs scenarios: it owns the temporary directory, the binaries
// built for the run and the processes started.
type Harness struct {
	Ctx     context.Context
	Opts    Options
	Out     io.Writer // progress
	Dir     string    // temporary directory
	LogDir  string
	Self    string // rpbench's own binary, for the hidden subcommands
	ModRoot string // the rp repository ("" when not in it)
	Machine Machine
	rpBin   string
	start   time.Time
	step    int // steps begun so far
	steps   int // in the whole run
}

func NewHarness(ctx context.Context, o Options, out io.Writer) (*Harness, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding rpbench's own binary: %w", err)
	}
	dir, err := os.MkdirTemp("", "rpbench-")
	if err != nil {
		return nil, err
	}
	h := &Harness{Ctx: ctx, Opts: o, Out: out, Dir: dir, LogDir: filepath.Join(dir, "logs"), Self: self, start: time.Now()}
	if err := os.MkdirAll(h.LogDir, 0o755); err != nil {
		return nil, err
	}
	h.ModRoot = moduleRoot()
	h.Machine = describeMachine(h.ModRoot)
	return h, nil
}

// Close removes the temporary directory unless -keep-logs.
func (h *Harness) Close() {
	if h.Opts.KeepLogs {
		fmt.Fprintf(h.Out, "logs and temporary files kept in %s\n", h.Dir)
		return
	}
	_ = os.RemoveAll(h.Dir)
}

// Progress prints a progress line: the time, the time since the start
// and the message.
func (h *Harness) Progress(format string, a ...any) {
	el := time.Since(h.start).Round(time.Second)
	fmt.Fprintf(h.Out, "%s %6s  %s\n", time.Now().Format("15:04:05"), fmtElapsed(el), fmt.Sprintf(format, a...))
}

func fmtElapsed(d time.Duration) string {
	return fmt.Sprintf("+%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

// Step begins the run's next step and returns its progress prefix, e.g.
// "[3/17] pages sqlite".
func (h *Harness) Step(label string) string {
	h.step++
	return fmt.Sprintf("[%d/%d] %s", h.step, max(h.steps, h.step), label)
}

// RunAll runs every selected scenario, in order.
func (h *Harness) RunAll() (*Summary, error) {
	all := scenarios()
	var plan []*Scenario
	for _, name := range h.Opts.Scenarios {
		for _, sc := range all {
			if sc.Name == name {
				plan = append(plan, sc)
				h.steps += sc.steps(h.Opts, sc.selected(h.Opts))
			}
		}
	}
	sum := &Summary{Machine: &h.Machine, Opts: h.Opts, Started: time.Now().UTC()}
	h.Progress("machine: %s", h.Machine.Short())
	h.Progress("scenarios: %s; %d steps", scenarioNames(plan), h.steps)
	if busy := idleCheck(); busy >= 0 {
		h.Machine.BusyBefore = busy
		note := ""
		if busy > 0.1 {
			note = ": something else is running, results will be noisy"
		}
		h.Progress("the machine was %.0f%% busy in the second before the run%s", 100*busy, note)
	}
	for i, sc := range plan {
		if err := h.Ctx.Err(); err != nil {
			return nil, err
		}
		sel := sc.selected(h.Opts)
		h.Progress("== scenario %d of %d: %s (%s)", i+1, len(plan), sc.Name, sc.Title)
		run := &ScenarioRun{Scenario: sc, Started: time.Now().UTC(), Partial: len(sel) < len(sc.Targets)}
		if len(sel) == 0 {
			h.Progress("scenario %s has none of -targets: skipped", sc.Name)
		} else if sc.Measure != nil {
			r, err := sc.Measure(h, sel)
			if r != nil {
				r.Scenario, r.Started, r.Partial = sc, run.Started, run.Partial
				run = r
			}
			run.Err = err
		} else {
			rep, err := h.Run(sc)
			if err == nil {
				run.Markdown = rep.Markdown()
				run.Console = rep.Table() + "\n" + rep.CPUTable()
				run.Judged = rep.Judged()
				run.Failed = rep.Failed()
				run.Noisy = rep.Noisy()
			}
			run.Err = err
		}
		if h.Ctx.Err() != nil {
			return nil, h.Ctx.Err()
		}
		run.Finished = time.Now().UTC()
		if run.Err != nil {
			h.Progress("scenario %s FAILED: %v", sc.Name, run.Err)
		}
		sum.Runs = append(sum.Runs, run)
	}
	sum.Finished = time.Now().UTC()
	return sum, nil
}

// RPBin returns the rp binary: -rp-bin, or ./cmd/rp built once for the run.
func (h *Harness) RPBin() (string, error) {
	if h.Opts.RPBin != "" {
		return h.Opts.RPBin, nil
	}
	if h.rpBin != "" {
		return h.rpBin, nil
	}
	if h.ModRoot == "" {
		return "", errors.New("not in the rp repository: run rpbench from it, or give -rp-bin")
	}
	bin := filepath.Join(h.Dir, "rp")
	h.Progress("building rp: go build ./cmd/rp")
	cmd := exec.CommandContext(h.Ctx, "go", "build", "-o", bin, "./cmd/rp")
	cmd.Dir = h.ModRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/rp: %v\n%s", err, out)
	}
	h.rpBin = bin
	return bin, nil
}

// Result is one target's measurement in one round.
type Result struct {
	LoadResult
	CPU time.Duration // the server process's CPU time in the window
	// CPUBehind and CPULoad are the upstream's (when it is another process)
	// and the load generator's (rpbench's process) CPU time in the window.
	CPUBehind, CPULoad time.Duration
	// CPUOther is the rest of the machine's busy CPU time in the window:
	// the kernel's work not charged to a process, and anything else running.
	CPUOther time.Duration
	CPUStore time.Duration    // the store server's processes
	Noise    float64          // CPUOther's share of the machine's CPU time in the window
	Round    int              // 1, 2, ... (-count)
	Counters map[string]int64 // Instance.Counters' change over the window
	Checks   []string
}

// CPUPerRequest is the server's CPU time per successful request.
func (r Result) CPUPerRequest() time.Duration { return perRequest(r.CPU, r.OK) }

// CPUBehindPerRequest is the upstream's CPU time per successful request.
func (r Result) CPUBehindPerRequest() time.Duration { return perRequest(r.CPUBehind, r.OK) }

func perRequest(d time.Duration, n int64) time.Duration {
	if n == 0 {
		return 0
	}
	return d / time.Duration(n)
}

// Outcome is a target's results over the rounds.
type Outcome struct {
	Target  *Target
	Rounds  []Result
	Err     error // why it did not run, or failed
	Skipped bool
}

// Reported is the round with the median throughput.
func (o *Outcome) Reported() (Result, bool) {
	if len(o.Rounds) == 0 {
		return Result{}, false
	}
	rs := slices.Clone(o.Rounds)
	slices.SortFunc(rs, func(a, b Result) int { return cmpFloat(a.RPS(), b.RPS()) })
	return rs[(len(rs)-1)/2], true
}

// Run runs sc's selected targets -count times, in order.
func (h *Harness) Run(sc *Scenario) (*Report, error) {
	selected := sc.selected(h.Opts)
	h.Progress("load: %d keep-alive connections, %s warm-up then %s measured per target, %d round(s); targets %s",
		h.Opts.Connections, h.Opts.Warmup, h.Opts.Duration, h.Opts.Count, targetNames(selected))
	if len(h.Opts.RPEnv) > 0 {
		h.Progress("rp's extra environment: %s", strings.Join(h.Opts.RPEnv, " "))
	}
	teardown, err := sc.Setup(h, selected)
	if err != nil {
		return nil, err
	}
	defer teardown()

	rep := &Report{Scenario: sc, Machine: &h.Machine, Opts: h.Opts, Started: time.Now().UTC()}
	outcomes := map[string]*Outcome{}
	for _, t := range selected {
		oc := &Outcome{Target: t}
		outcomes[t.Name] = oc
		rep.Outcomes = append(rep.Outcomes, oc)
	}
	for round := 1; round <= h.Opts.Count; round++ {
		for _, t := range selected {
			if err := h.Ctx.Err(); err != nil {
				return nil, err
			}
			prefix := h.Step(sc.Name + " " + t.Name)
			oc := outcomes[t.Name]
			if oc.Err != nil {
				continue // failed or skipped in an earlier round
			}
			r, err := h.measure(prefix, t)
			if err != nil {
				if h.Ctx.Err() != nil {
					return nil, h.Ctx.Err()
				}
				oc.Err, oc.Skipped = err, errors.Is(err, errSkip)
				what := "FAILED"
				if oc.Skipped {
					what = "skipped"
				}
				h.Progress("%s: %s: %v", prefix, what, err)
				continue
			}
			r.Round = round
			oc.Rounds = append(oc.Rounds, r)
		}
	}
	rep.Finished = time.Now().UTC()
	return rep, nil
}

func (h *Harness) measure(prefix string, t *Target) (Result, error) {
	h.waitIdle(prefix)
	h.Progress("%s: starting", prefix)
	inst, err := t.Start(h)
	if err != nil {
		return Result{}, err
	}
	defer inst.Stop()
	for _, c := range inst.Checks {
		h.Progress("%s: checked: %s", prefix, c)
	}
	var best Result
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			h.waitIdle(prefix)
		}
		r, err := h.window(prefix, t, inst)
		if err != nil {
			return r, err
		}
		if attempt == 0 || r.Noise < best.Noise {
			best = r
		}
		if best.Noise <= noiseLimit {
			break
		}
		if attempt >= h.Opts.Retries || h.Opts.ProfileDir != "" { // perf itself is "another process"
			h.Progress("%s: still noisy after %d measurements: keeping the quietest (%.0f%% of the CPU time went to other processes)",
				prefix, attempt+1, 100*best.Noise)
			break
		}
		h.Progress("%s: %.0f%% of the machine's CPU time went to other processes during the window: measuring again",
			prefix, 100*r.Noise)
	}
	return best, nil
}

// noiseLimit is the share of the machine's CPU time that processes outside
// the measurement (not the load generator, server, upstream or store
// server) may take in a window before it is measured again.
const noiseLimit = 0.10

// window warms up and measures inst once.
func (h *Harness) window(prefix string, t *Target, inst *Instance) (Result, error) {
	h.Progress("%s: warming up %s, measuring %s", prefix, h.Opts.Warmup, h.Opts.Duration)
	var stopProfile func()
	var counters [2]map[string]int64
	var cpu [2][5]time.Duration // at the window's start and end: server, upstream, load generator, store server, whole machine
	res, err := Load(h.Ctx, inst.Request, inst.Want, LoadOptions{
		Connections: h.Opts.Connections, Warmup: h.Opts.Warmup, Duration: h.Opts.Duration, Contains: inst.WantContains,
		Phase: func(measuring bool) {
			i := 1
			if measuring {
				i = 0
				if h.Opts.ProfileDir != "" {
					stopProfile = h.startPerf(t.Name, inst.Proc.Pid())
				}
			} else if stopProfile != nil {
				defer stopProfile()
			}
			if inst.Counters != nil {
				counters[i] = inst.Counters()
			}
			cpu[i][0] = inst.Proc.CPUTime()
			if inst.Behind != nil {
				cpu[i][1] = inst.Behind.CPUTime()
			}
			cpu[i][2] = cpuTime(os.Getpid())
			if len(inst.StoreProcs) > 0 {
				cpu[i][3] = namedCPUTime(inst.StoreProcs)
			}
			cpu[i][4] = machineBusy()
		},
	})
	if err != nil {
		return Result{}, err
	}
	r := Result{LoadResult: res, CPU: cpu[1][0] - cpu[0][0], CPUBehind: cpu[1][1] - cpu[0][1], CPULoad: cpu[1][2] - cpu[0][2],
		CPUStore: max(0, cpu[1][3]-cpu[0][3]), Checks: inst.Checks}
	r.CPUOther = max(0, cpu[1][4]-cpu[0][4]-r.CPU-r.CPUBehind-r.CPULoad-r.CPUStore)
	r.Noise = float64(r.CPUOther) / float64(res.Window*time.Duration(runtime.NumCPU()))
	if counters[0] != nil && counters[1] != nil {
		r.Counters = map[string]int64{}
		for k, v := range counters[1] {
			r.Counters[k] = v - counters[0][k]
		}
	}
	// Still answering, still signed in?
	a, err := probe(h.Ctx, inst.Request, inst.Want, inst.WantContains)
	switch {
	case err != nil:
		return r, fmt.Errorf("after the measurement: %w", err)
	case a.Status != 200 || !a.BodyOK:
		return r, fmt.Errorf("after the measurement the same request got %d (want 200 with the expected body)", a.Status)
	}
	if ok, perr := inst.Proc.Exited(); ok {
		return r, fmt.Errorf("%s exited during the measurement (%v)", inst.Proc.Name, perr)
	}
	store := ""
	if len(inst.StoreProcs) > 0 {
		store = ", store server " + fmtDur(perRequest(r.CPUStore, r.OK))
	}
	h.Progress("%s: %s req/s, p50 %s, p99 %s, max %s, %d errors; CPU per request: server %s, upstream %s, load generator %s%s, other processes %s (%.0f%% of the machine)%s",
		prefix, fmtRate(r.RPS()), fmtDur(r.P50), fmtDur(r.P99), fmtDur(r.Max), r.Errors,
		fmtDur(perRequest(r.CPU, r.OK)), fmtDur(perRequest(r.CPUBehind, r.OK)), fmtDur(perRequest(r.CPULoad, r.OK)), store,
		fmtDur(perRequest(r.CPUOther, r.OK)), 100*r.Noise, reconnectNote(r))
	for _, k := range slices.Sorted(maps.Keys(r.Counters)) {
		h.Progress("%s: %s: %d in the window", prefix, k, r.Counters[k])
	}
	for _, s := range r.Samples {
		h.Progress("%s: error: %s", prefix, s)
	}
	return r, nil
}

func reconnectNote(r Result) string {
	if r.Reconnects == 0 {
		return ""
	}
	return fmt.Sprintf(", %d reconnects (the server closed connections)", r.Reconnects)
}

// moduleRoot is the rp repository containing the working directory, or "".
func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return ""
	}
	gomod := strings.TrimSpace(string(out))
	b, err := os.ReadFile(gomod)
	if err != nil || !strings.HasPrefix(strings.TrimSpace(string(b)), "module github.com/rp-project/rp\n") {
		return ""
	}
	return filepath.Dir(gomod)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// waitIdle waits, up to -wait-idle, until the machine is less than 15%
// busy over a second: on a shared machine, another job's compile would
// take CPU from the target being measured.
func (h *Harness) waitIdle(prefix string) {
	if h.Opts.WaitIdle <= 0 {
		return
	}
	deadline := time.Now().Add(h.Opts.WaitIdle)
	said := false
	for {
		busy := idleCheck()
		if busy < 0.15 || h.Ctx.Err() != nil {
			return
		}
		if time.Now().After(deadline) {
			h.Progress("%s: the machine is still %.0f%% busy after %s: measuring anyway (noisy)", prefix, 100*busy, h.Opts.WaitIdle)
			return
		}
		if !said {
			h.Progress("%s: the machine is %.0f%% busy: waiting for it to be idle (at most %s)", prefix, 100*busy, h.Opts.WaitIdle)
			said = true
		}
	}
}

// idleCheck is the share of the machine's CPU time that was busy over one
// second, or -1 where it cannot be read.
func idleCheck() float64 {
	b0 := machineBusy()
	if b0 == 0 {
		return -1
	}
	time.Sleep(time.Second)
	return float64(machineBusy()-b0) / float64(time.Duration(runtime.NumCPU())*time.Second)
}

// startPerf records the server's CPU profile with perf (-profile) until the
// returned function is called.
func (h *Harness) startPerf(name string, pid int) func() {
	if err := os.MkdirAll(h.Opts.ProfileDir, 0o755); err != nil {
		h.Progress("profile: %v", err)
		return nil
	}
	out := filepath.Join(h.Opts.ProfileDir, name+".perf.data")
	cmd := exec.Command("perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-p", fmt.Sprint(pid), "-o", out)
	log, err := os.Create(filepath.Join(h.Opts.ProfileDir, name+".perf.log"))
	if err != nil {
		h.Progress("profile: %v", err)
		return nil
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		h.Progress("profile: perf record: %v", err)
		return nil
	}
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		log.Close()
		h.Progress("profile of %s (pid %d) in %s: perf report -i %s --no-children", name, pid, out, out)
	}
}
