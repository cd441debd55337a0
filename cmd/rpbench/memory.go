package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/rp-project/rp/internal/session"
)

// The memory scenario: how much memory rp's memory store takes per stored
// session. It runs in a process of its own (rpbench's binary with a hidden
// first argument), so that nothing else in it moves its memory: it opens
// the memory store as rp does (internal/session), measures the process,
// stores realistic sessions through the bulk fill, collects garbage and
// measures again.

const cmdMemory = "_memory"

// memoryGoal is the bound on memory per stored session.
const memoryGoal = 4096

// MemoryResult is what the _memory subcommand prints, as JSON.
type MemoryResult struct {
	Sessions     int
	SessionBytes int     // one session as rp encodes it
	RSSPer       float64 // growth of the process's resident memory, per session
	HeapPer      float64 // growth of Go's heap in use, per session
	PagesPer     float64 // SQLite's pages (the in-memory database), per session
	RSSBefore    int64
	RSSAfter     int64
	Fill         time.Duration
}

func memoryScenario() *Scenario {
	sc := &Scenario{
		Name:  "memory",
		Title: "memory per stored session",
		About: "rp's memory store is SQLite in memory (`RP_SESSION_STORE=memory`). rpbench runs its own binary again as a process of its own, " +
			"which opens the memory store through internal/session as rp does, returns free memory to the system (`runtime.GC`, " +
			"`debug.FreeOSMemory`), reads its resident memory (VmRSS in /proc/self/status) and Go's heap in use (`runtime.ReadMemStats`), " +
			"stores the sessions with internal/session's bulk fill (`Manager.Fill`: realistic sessions with Keycloak-sized tokens, a dozen claims and a CSRF token, " +
			"each with its index entry, as `BenchmarkBackchannelLogout` stores them), and measures again. " +
			"Memory per session is the growth of the resident memory divided by the sessions stored: it counts SQLite's pages, its page cache and " +
			"allocator (outside Go's heap) and whatever Go keeps; the goal is judged on it.",
		Caveats: []string{
			"The sessions are stored without sign-ins: the in-process read cache (at most 32 MiB, whatever the number of sessions) stays empty. " +
				"A busy rp adds up to that fixed amount.",
			"The session's own encoded size is most of the cost: the ID, access and refresh tokens are about 3.6 KB of it; " +
				"a provider issuing smaller tokens makes every session smaller.",
		},
		Steps: func(o Options, selected []*Target) int { return 1 },
	}
	sc.Targets = []*Target{{Name: "memory", Label: "rp, memory store", About: "rp's " + storeSpecDoc["memory"] + ", through internal/session, in a process of its own."}}
	sc.Measure = measureMemory
	return sc
}

func measureMemory(h *Harness, _ []*Target) (*ScenarioRun, error) {
	began := time.Now().UTC()
	prefix := h.Step("memory memory store")
	h.waitIdle(prefix)
	h.Progress("%s: storing %s sessions in the memory store in a process of its own", prefix, fmtRate(float64(h.Opts.MemSessions)))
	cmd := exec.CommandContext(h.Ctx, h.Self, cmdMemory, "-n", strconv.Itoa(h.Opts.MemSessions))
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	run := &ScenarioRun{}
	var res MemoryResult
	if err == nil {
		err = json.Unmarshal(out, &res)
	}
	j := Judged{Scenario: "memory", What: "resident memory per session stored in the memory store",
		Goal: "< " + fmtBytes(memoryGoal), Limit: memoryGoal, Unit: "bytes", Measured: "—"}
	if err != nil {
		err = fmt.Errorf("the memory subprocess: %w: %s", err, strings.TrimSpace(stderr.String()))
		h.Progress("%s: FAILED: %v", prefix, err)
		j.Status = "n/a (" + err.Error() + ")"
		run.Failed = true
	} else {
		h.Progress("%s: %s of resident memory per session (Go heap %s, SQLite pages %s; a session encodes to %s), filled in %s",
			prefix, fmtBytes(res.RSSPer), fmtBytes(res.HeapPer), fmtBytes(res.PagesPer), fmtBytes(float64(res.SessionBytes)), res.Fill.Round(time.Millisecond))
		j.Value, j.Measured = res.RSSPer, fmtBytes(res.RSSPer)
		j = judge(j, true)
	}
	run.Judged = []Judged{j}
	table := memoryTable(res, err, j)
	run.Console = table
	sc := scenarioByName("memory")
	var b strings.Builder
	b.WriteString(reportHead(sc.Name, sc.Title, began))
	b.WriteString(machineMarkdown(&h.Machine, h.Opts))
	fmt.Fprintf(&b, "- **Sessions stored**: %s.\n\n", fmtRate(float64(h.Opts.MemSessions)))
	b.WriteString(table)
	b.WriteString("\n" + sc.About + "\n\n## Caveats\n\n")
	for _, c := range sc.Caveats {
		fmt.Fprintf(&b, "- %s\n", c)
	}
	b.WriteString("\nThe bytes each persistent store takes per session are in the [back-channel report](backchannel.md) (store bytes per session).\n")
	fmt.Fprintf(&b, "\n## Reproduce\n\n```sh\n%s\n```\n", reproduceCommand(h.Opts, sc.Name))
	run.Markdown = b.String()
	return run, nil
}

func memoryTable(res MemoryResult, err error, j Judged) string {
	var b strings.Builder
	b.WriteString("| store | sessions | resident memory per session | Go heap per session | SQLite pages per session | one session encoded | goal < 4 KiB |\n" +
		"|---|---:|---:|---:|---:|---:|---|\n")
	if err != nil {
		fmt.Fprintf(&b, "| memory | — | — | — | — | — | %s |\n", mdCell("failed: "+err.Error()))
		return b.String()
	}
	fmt.Fprintf(&b, "| memory | %s | %s | %s | %s | %s | %s |\n", fmtRate(float64(res.Sessions)), fmtBytes(res.RSSPer), fmtBytes(res.HeapPer),
		fmtBytes(res.PagesPer), fmtBytes(float64(res.SessionBytes)), j.Status)
	return b.String()
}

// fmtBytes is n bytes, in KiB from 10 KiB on.
func fmtBytes(n float64) string {
	if n >= 10<<10 {
		return fmt.Sprintf("%.1f KiB", n/1024)
	}
	return fmtRate(n) + " B"
}

// serveMemory is the _memory subcommand: it prints a MemoryResult.
func serveMemory(args []string) int {
	fs := flag.NewFlagSet(cmdMemory, flag.ContinueOnError)
	n := fs.Int("n", 100_000, "sessions to store")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	res, err := memoryPerSession(context.Background(), *n)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", cmdMemory, err)
		return 1
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

func memoryPerSession(ctx context.Context, n int) (MemoryResult, error) {
	res := MemoryResult{Sessions: n}
	blob, err := session.RealisticSession()
	if err != nil {
		return res, err
	}
	res.SessionBytes = blob.Size()
	m, err := session.Open(ctx, session.Options{Store: "memory", Lifetime: 24 * time.Hour})
	if err != nil {
		return res, err
	}
	defer m.Close()
	// One session first, so that the tables and the connection exist.
	if err := m.Fill(ctx, "https://op.example", 0, 1, blob); err != nil {
		return res, err
	}
	pages0, err := m.StoreBytes(ctx)
	if err != nil {
		return res, err
	}
	heap0, rss0 := settle()
	t0 := time.Now()
	if err := m.Fill(ctx, "https://op.example", 1, n+1, blob); err != nil {
		return res, err
	}
	res.Fill = time.Since(t0)
	pages1, err := m.StoreBytes(ctx)
	if err != nil {
		return res, err
	}
	heap1, rss1 := settle()
	res.RSSBefore, res.RSSAfter = rss0, rss1
	res.RSSPer = float64(rss1-rss0) / float64(n)
	res.HeapPer = float64(int64(heap1)-int64(heap0)) / float64(n)
	res.PagesPer = float64(pages1-pages0) / float64(n)
	return res, nil
}

// settle collects garbage, returns free memory to the system and reads
// Go's heap in use and the process's resident memory.
func settle() (heap uint64, rss int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, residentBytes()
}

// residentBytes is this process's VmRSS, 0 where there is none.
func residentBytes() int64 { return statusRSS("/proc/self/status") }

// processResident is process pid's VmRSS, 0 where there is none.
func processResident(pid int) int64 { return statusRSS(fmt.Sprintf("/proc/%d/status", pid)) }

// statusRSS is VmRSS from a /proc/PID/status file.
func statusRSS(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
