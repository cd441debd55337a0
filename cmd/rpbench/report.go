package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is a scenario's run.
type Report struct {
	Scenario          *Scenario
	Machine           *Machine
	Opts              Options
	Started, Finished time.Time
	Outcomes          []*Outcome
}

// Failed reports whether a target failed (skipped ones did not).
func (r *Report) Failed() bool {
	for _, o := range r.Outcomes {
		if o.Err != nil && !o.Skipped {
			return true
		}
	}
	return false
}

func (r *Report) outcome(name string) *Outcome {
	for _, o := range r.Outcomes {
		if o.Target.Name == name {
			return o
		}
	}
	return nil
}

// Ratio is a target's throughput divided by a baseline's, taken within each
// round (so that the machine's drift between rounds cancels out): the
// median over the rounds, and the lowest and highest.
func (r *Report) Ratio(target, baseline string) (med, lo, hi float64, ok bool) {
	t, b := r.outcome(target), r.outcome(baseline)
	if t == nil || b == nil || t.Err != nil || b.Err != nil {
		return 0, 0, 0, false
	}
	var ratios []float64
	for _, x := range t.Rounds {
		for _, y := range b.Rounds {
			if x.Round == y.Round && x.OK > 0 && y.OK > 0 {
				ratios = append(ratios, x.RPS()/y.RPS())
			}
		}
	}
	if len(ratios) == 0 {
		return 0, 0, 0, false
	}
	slices.Sort(ratios)
	n := len(ratios)
	med = ratios[n/2]
	if n%2 == 0 {
		med = (ratios[n/2-1] + ratios[n/2]) / 2
	}
	return med, ratios[0], ratios[n-1], true
}

// GoalStatus is "met", "not met" or why it could not be judged.
func (r *Report) GoalStatus(g Goal) string {
	o := r.outcome(g.Target)
	if o == nil || o.Err != nil {
		return "n/a"
	}
	ratio, _, _, ok := r.Ratio(g.Target, g.Baseline)
	if !ok {
		return fmt.Sprintf("n/a (%s not measured)", g.Baseline)
	}
	var errs int64
	for _, x := range o.Rounds {
		errs += x.Errors
	}
	switch {
	case errs > 0:
		return fmt.Sprintf("not met (%d errors)", errs)
	case ratio >= g.Min:
		return "met"
	default:
		return "not met"
	}
}

// Judged is the scenario's goals as the summary gives them.
func (r *Report) Judged() []Judged {
	var js []Judged
	for _, g := range r.Scenario.Goals {
		label := func(name string) string {
			if o := r.outcome(name); o != nil {
				return o.Target.Label
			}
			if t := r.Scenario.target(name); t != nil {
				return t.Label
			}
			return name
		}
		j := Judged{Scenario: r.Scenario.Name, What: label(g.Target) + " ÷ " + label(g.Baseline) + ", req/s",
			Goal: "≥ " + trimFloat(g.Min), Limit: g.Min, Unit: "×", Higher: true, Value: math.NaN(), Measured: "—"}
		if med, _, _, ok := r.Ratio(g.Target, g.Baseline); ok {
			j.Value, j.Measured = med, fmtRatio(med, g.Min)
		}
		j.Status = r.GoalStatus(g)
		js = append(js, j)
	}
	return js
}

// Table is the results as a Markdown table.
func (r *Report) Table() string {
	sc := r.Scenario
	var b strings.Builder
	b.WriteString("| target | req/s | p50 | p99 | errors |")
	for _, bl := range sc.Baselines {
		b.WriteString(" " + bl.Column + " |")
	}
	b.WriteString(" server CPU per request | issue targets |\n|---|---:|---:|---:|---:|")
	for range sc.Baselines {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---|\n")
	for _, o := range r.Outcomes {
		t := o.Target
		fmt.Fprintf(&b, "| %s |", t.Label)
		res, ok := o.Reported()
		if o.Err != nil || !ok {
			why := "not run"
			if o.Err != nil {
				why = "failed: " + o.Err.Error()
				if o.Skipped {
					why = "not run: " + strings.TrimSuffix(o.Err.Error(), ": "+errSkip.Error())
				}
			}
			why = strings.ReplaceAll(strings.ReplaceAll(why, "\n", " "), "|", "\\|")
			if len(why) > 200 {
				why = why[:200] + "…"
			}
			b.WriteString(strings.Repeat(" — |", 4+len(sc.Baselines)+1))
			fmt.Fprintf(&b, " %s |\n", why)
			continue
		}
		rate := fmtRate(res.RPS())
		if len(o.Rounds) > 1 {
			lo, hi := math.Inf(1), 0.0
			for _, x := range o.Rounds {
				lo, hi = min(lo, x.RPS()), max(hi, x.RPS())
			}
			rate += fmt.Sprintf(" (%s–%s)", fmtRate(lo), fmtRate(hi))
		}
		if res.Noise > noiseLimit {
			rate += " ⚠"
		}
		fmt.Fprintf(&b, " %s | %s | %s | %d |", rate, fmtDur(res.P50), fmtDur(res.P99), res.Errors)
		for _, bl := range sc.Baselines {
			med, lo, hi, ok := r.Ratio(t.Name, bl.Target)
			switch {
			case bl.Target == t.Name:
				b.WriteString(" 1 |")
			case !ok:
				b.WriteString(" — |")
			case len(o.Rounds) > 1:
				fmt.Fprintf(&b, " %.2f (%.2f–%.2f) |", med, lo, hi)
			default:
				fmt.Fprintf(&b, " %.2f |", med)
			}
		}
		cpu := "—"
		if res.CPU > 0 {
			cpu = fmtDur(res.CPUPerRequest())
		}
		fmt.Fprintf(&b, " %s |", cpu)
		var goals []string
		for _, g := range sc.Goals {
			if g.Target == t.Name {
				goals = append(goals, g.String()+": "+r.GoalStatus(g))
			}
		}
		fmt.Fprintf(&b, " %s |\n", strings.Join(goals, "; "))
	}
	return b.String()
}

// Noisy reports whether a reported result was measured while other
// processes took more than noiseLimit of the machine.
func (r *Report) Noisy() bool {
	for _, o := range r.Outcomes {
		if res, ok := o.Reported(); ok && o.Err == nil && res.Noise > noiseLimit {
			return true
		}
	}
	return false
}

// CPUTable is where the machine's CPU time went per successful request.
func (r *Report) CPUTable() string {
	var b strings.Builder
	b.WriteString("Where the CPU time went, per successful request (from /proc; other processes are the kernel's work not charged to a process, " +
		"and anything else that ran on the machine):\n\n" +
		"| target | server under test | upstream | load generator | store server | other processes | machine busy |")
	var counters []string
	for _, o := range r.Outcomes {
		if res, ok := o.Reported(); ok {
			for k := range res.Counters {
				if !slices.Contains(counters, k) {
					counters = append(counters, k)
				}
			}
		}
	}
	slices.Sort(counters)
	for _, k := range counters {
		b.WriteString(" " + k + " |")
	}
	b.WriteString("\n|---|---:|---:|---:|---:|---:|---:|" + strings.Repeat("---:|", len(counters)) + "\n")
	for _, o := range r.Outcomes {
		res, ok := o.Reported()
		if o.Err != nil || !ok || res.OK == 0 {
			continue
		}
		behind := "(is the server)"
		if res.CPUBehind > 0 {
			behind = fmtDur(res.CPUBehindPerRequest())
		}
		total := res.CPU + res.CPUBehind + res.CPULoad + res.CPUStore + res.CPUOther
		busy := float64(total) / float64(res.Window*time.Duration(r.Machine.Cores))
		store := "—"
		if res.CPUStore > 0 {
			store = fmtDur(perRequest(res.CPUStore, res.OK))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %.0f%% |", o.Target.Label, fmtDur(res.CPUPerRequest()), behind,
			fmtDur(perRequest(res.CPULoad, res.OK)), store, fmtDur(perRequest(res.CPUOther, res.OK)), 100*busy)
		for _, k := range counters {
			if v, ok := res.Counters[k]; ok {
				fmt.Fprintf(&b, " %s |", fmtRate(float64(v)))
			} else {
				b.WriteString(" — |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Markdown is the whole report: machine, method, table, checks, caveats.
func (r *Report) Markdown() string {
	sc, m, o := r.Scenario, r.Machine, r.Opts
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmark: %s\n\n", sc.Title)
	fmt.Fprintf(&b, "<!-- Written by `go run ./cmd/rpbench -scenario %s`. Run it again rather than editing this file. -->\n\n", sc.Name)
	fmt.Fprintf(&b, "Run on %s UTC (%s).\n\n", r.Started.Format("2006-01-02 15:04"), r.Finished.Sub(r.Started).Round(time.Second))
	b.WriteString(machineMarkdown(m, o))
	fmt.Fprintf(&b, "- **Load**: rpbench's own load generator, in the rpbench process: %d keep-alive HTTP/1.1 connections, "+
		"one request in flight on each (no pipelining), the same prepared request repeated; %s warm-up on the same connections, "+
		"then %s measured, per target", o.Connections, o.Warmup, o.Duration)
	if o.Count > 1 {
		fmt.Fprintf(&b, "; %d rounds over all targets, the round with the median throughput reported (the range in parentheses)", o.Count)
	}
	b.WriteString(". Every process (the load generator, the server under test, the upstream, the store server) shares the machine's CPUs.\n")
	fmt.Fprintf(&b, "- **Noise**: before each target rpbench waits (at most %s) for the machine to be under 15%% busy; a window in which other processes "+
		"took more than %.0f%% of the machine's CPU time is measured again, at most %d times, and the quietest kept (⚠ when still above).\n\n",
		o.WaitIdle, 100*noiseLimit, o.Retries)
	b.WriteString(r.Table())
	b.WriteString("\n")
	if r.Noisy() {
		fmt.Fprintf(&b, "⚠ measured while other processes took more than %.0f%% of the machine's CPU time (after %d retries): less reliable.\n\n", 100*noiseLimit, o.Retries)
	}
	expect := cmp.Or(sc.Expect, "the upstream's exact body")
	b.WriteString("req/s counts only 200 answers carrying " + expect + "; anything else is an error. " +
		"p50 and p99 are the latencies seen by the load generator (connection queueing included). " +
		"The ratio columns divide a target's req/s by the baseline's measured in the same round, a minute apart at most; " +
		"with several rounds they give the median ratio and the range, and the issue targets are judged on the median ratio. " +
		"Server CPU per request is the user and system CPU time of the target's own process (not the upstream's, not the store server's) " +
		"during the measured window, divided by the successful requests.\n\n")
	b.WriteString(r.CPUTable())
	b.WriteString("\n")
	if sc.About != "" {
		b.WriteString(sc.About + "\n\n")
	}
	b.WriteString("## Targets\n\n")
	for _, oc := range r.Outcomes {
		fmt.Fprintf(&b, "- **%s**: %s\n", oc.Target.Label, oc.Target.About)
	}
	b.WriteString("\n## What was checked before each measurement\n\n")
	for _, oc := range r.Outcomes {
		res, ok := oc.Reported()
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "- **%s**: %s.\n", oc.Target.Label, strings.Join(res.Checks, "; "))
	}
	b.WriteString("\nAfter each measurement the same request was sent once more and had to get 200 with " + expect + ".\n")
	if len(sc.Caveats) > 0 {
		b.WriteString("\n## Caveats\n\n")
		for _, c := range sc.Caveats {
			fmt.Fprintf(&b, "- %s\n", c)
		}
	}
	fmt.Fprintf(&b, "\n## Reproduce\n\n```sh\n%s\n```\n", reproduceCommand(o, sc.Name))
	return b.String()
}

// reportHead is the start of a scenario's report that is not a throughput
// table: title, how it was written, when.
func reportHead(name, title string, began time.Time) string {
	return fmt.Sprintf("# Benchmark: %s\n\n<!-- Written by `go run ./cmd/rpbench -scenario %s`. Run it again rather than editing this file. -->\n\n"+
		"Run on %s UTC (%s).\n\n", title, name, began.Format("2006-01-02 15:04"), time.Since(began).Round(time.Second))
}

// machineMarkdown is the Markdown list of what the run was made on.
func machineMarkdown(m *Machine, o Options) string {
	var b strings.Builder
	if o.Note != "" {
		fmt.Fprintf(&b, "> **Note:** %s\n\n", o.Note)
	}
	fmt.Fprintf(&b, "- **Machine**: %s, %d logical CPUs, %.1f GiB RAM, %s.\n", m.CPU, m.Cores, m.MemGiB, m.OS)
	if m.BusyBefore >= 0 {
		fmt.Fprintf(&b, "- **Machine load before the run**: %.0f%% of the CPU time was busy in the second before it.\n", 100*m.BusyBefore)
	}
	fmt.Fprintf(&b, "- **Go**: %s (rpbench, and rp built with `go build ./cmd/rp`).\n", m.Go)
	if m.Commit != "" {
		fmt.Fprintf(&b, "- **rp**: commit %s.\n", m.Commit)
	}
	if len(o.RPEnv) > 0 {
		fmt.Fprintf(&b, "- **rp's extra environment** (an experiment, not the defaults): `%s`.\n", strings.Join(o.RPEnv, " "))
	}
	for _, v := range m.Versions {
		fmt.Fprintf(&b, "- %s\n", v)
	}
	return b.String()
}

// reproduceCommand is the command that runs scenario (every scenario when
// "") with the run's settings: the flags that differ from the defaults.
func reproduceCommand(o Options, scenario string) string {
	args := []string{"go run ./cmd/rpbench"}
	if scenario != "" {
		args = append(args, "-scenario "+scenario)
	}
	d := defaultOptions()
	// The flags each scenario reads; every one for the whole run.
	uses := map[string][]string{
		"proxy":       {"duration", "warmup", "c", "count"},
		"pages":       {"duration", "warmup", "c", "count"},
		"signin":      {"duration", "warmup", "signin-c"},
		"memory":      {"memory-sessions"},
		"backchannel": {"sessions", "logouts"},
		"anonymous":   {"c", "anonymous-logins", "anonymous-callbacks"},
	}
	add := func(differs bool, flag string, v any) {
		if differs && (scenario == "" || slices.Contains(uses[scenario], flag)) {
			args = append(args, fmt.Sprintf("-%s %v", flag, v))
		}
	}
	add(o.Duration != d.Duration, "duration", o.Duration)
	add(o.Warmup != d.Warmup, "warmup", o.Warmup)
	add(o.Connections != d.Connections, "c", o.Connections)
	add(o.Count != d.Count, "count", o.Count)
	add(o.SigninConns != d.SigninConns, "signin-c", o.SigninConns)
	add(!slices.Equal(o.Sessions, d.Sessions), "sessions", joinInts(o.Sessions))
	add(o.Logouts != d.Logouts, "logouts", o.Logouts)
	add(o.MemSessions != d.MemSessions, "memory-sessions", o.MemSessions)
	add(o.AnonLogins != d.AnonLogins, "anonymous-logins", o.AnonLogins)
	add(o.AnonCallbacks != d.AnonCallbacks, "anonymous-callbacks", o.AnonCallbacks)
	for _, e := range o.RPEnv {
		args = append(args, "-rp-env "+e)
	}
	return strings.Join(args, " ")
}

func joinInts(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, strconv.Itoa(x))
	}
	return strings.Join(s, ",")
}

// fmtRatio is x with two decimals, or three where two would round it onto
// the goal it missed or only just met (0.498 against 0.5 is not "0.50").
func fmtRatio(x, goal float64) string {
	s := fmt.Sprintf("%.2f", x)
	if s == fmt.Sprintf("%.2f", goal) && x != goal {
		s = fmt.Sprintf("%.3f", x)
	}
	return s
}

func fmtRate(x float64) string {
	n := strconv.FormatInt(int64(math.Round(x)), 10)
	var b strings.Builder
	for i, c := range n {
		if i > 0 && (len(n)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func trimFloat(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}
