package main

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func sampleJudged() []Judged {
	return []Judged{
		judge(Judged{Scenario: "pages", What: "rp, memory store ÷ bare handler, req/s", Goal: "≥ 0.5", Measured: "0.62", Value: 0.62, Limit: 0.5, Higher: true}, false),
		judge(Judged{Scenario: "signin", What: "rp's CPU per sign-in, sqlite <store> & co", Goal: "< 2.00 ms", Measured: "2.29 ms", Value: 2.29, Limit: 2}, true),
		judge(Judged{Scenario: "backchannel", What: "logout p50 at 10⁶ ÷ at 10³ sessions, redis store", Goal: "≤ 1.5", Measured: "1.50", Value: 1.5, Limit: 1.5}, false),
		{Scenario: "memory", What: "resident memory per session", Goal: "< 4,096 B", Measured: "—", Value: math.NaN(), Limit: 4096, Status: "n/a (failed: boom)"},
	}
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		j      Judged
		strict bool
		want   string
	}{
		{Judged{Value: 0.5, Limit: 0.5, Higher: true}, false, "met"},
		{Judged{Value: 0.49, Limit: 0.5, Higher: true}, false, "not met"},
		{Judged{Value: 1.5, Limit: 1.5}, false, "met"},       // within 1.5×
		{Judged{Value: 2.0, Limit: 2.0}, true, "not met"},    // under 2 ms
		{Judged{Value: 1.99, Limit: 2.0}, true, "met"},       // under 2 ms
		{Judged{Value: math.NaN(), Limit: 2.0}, true, "n/a"}, // not measured
	} {
		if got := judge(tc.j, tc.strict).Status; got != tc.want {
			t.Errorf("judge(%v, higher %v, strict %v) = %q, want %q", tc.j.Value, tc.j.Higher, tc.strict, got, tc.want)
		}
	}
	js := sampleJudged()
	if !js[0].Met() || js[1].Met() || !js[1].Judged() || !js[2].Met() || js[3].Judged() {
		t.Errorf("statuses: %q %q %q %q", js[0].Status, js[1].Status, js[2].Status, js[3].Status)
	}
}

func TestChartGoalOfNothing(t *testing.T) {
	none := judge(Judged{Scenario: "anonymous", What: "keys added", Goal: "0 keys", Value: 0, Limit: 0}, false)
	some := judge(Judged{Scenario: "anonymous", What: "keys added", Goal: "0 keys", Value: 3, Limit: 0}, false)
	if !none.Met() || some.Met() {
		t.Fatalf("statuses %q %q", none.Status, some.Status)
	}
	rows, _ := chart([]Judged{none, some, sampleJudged()[0]})
	if rows[0].StatusText != "met" || rows[0].GoalX != 20 || rows[0].BarWidth != 1 {
		t.Errorf("nothing added: %+v", rows[0])
	}
	if rows[1].StatusText != "not met" || rows[1].GoalX != 20 || rows[1].BarWidth != 440 {
		t.Errorf("3 added: %+v", rows[1])
	}
	if rows[2].GoalX != 240 {
		t.Errorf("a goal above 0 keeps its line in the middle: %+v", rows[2])
	}
}

func TestSVGIsWellFormedAndShowsEveryGoal(t *testing.T) {
	js := sampleJudged()
	note := "provisional: a busy machine " + strings.Repeat("and a long note ", 12) + "to wrap"
	svg, err := goalsSVG(js, "AMD EPYC <test> & co, 2 logical CPUs", note)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(string(svg)))
	var texts []string
	var root string
	bars, whiteBackground := 0, false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = x.Name.Local
				if x.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root namespace %q", x.Name.Space)
				}
			}
			switch x.Name.Local {
			case "script", "foreignObject", "style", "image":
				t.Errorf("the chart has a <%s>", x.Name.Local)
			case "rect":
				attrs := map[string]string{}
				for _, a := range x.Attr {
					attrs[a.Name.Local] = a.Value
				}
				if attrs["fill"] == "#ffffff" && attrs["x"] == "0" && attrs["y"] == "0" {
					whiteBackground = true
				} else {
					bars++
				}
			}
			for _, a := range x.Attr {
				if a.Name.Local == "href" || strings.Contains(a.Value, "url(") {
					t.Errorf("external reference %s=%q", a.Name.Local, a.Value)
				}
			}
		case xml.CharData:
			texts = append(texts, string(x))
		}
	}
	if root != "svg" {
		t.Errorf("root element %q", root)
	}
	if !whiteBackground {
		t.Error("no white background rect (the chart must read in GitHub's dark theme too)")
	}
	for _, l := range texts {
		if len([]rune(l)) > 130 && !strings.Contains(l, "\n") {
			t.Errorf("a line of %d characters runs off the chart: %q", len([]rune(l)), l)
		}
	}
	if bars != len(js) {
		t.Errorf("%d bars, want one per goal (%d)", bars, len(js))
	}
	all := strings.Join(texts, "\n")
	for _, j := range js {
		for _, want := range []string{j.Scenario + ": " + j.What, j.Measured, "goal " + j.Goal} {
			if !strings.Contains(all, want) {
				t.Errorf("the chart lacks %q:\n%s", want, all)
			}
		}
	}
	for _, want := range []string{"not met", "not measured", "AMD EPYC <test> & co", "Note: provisional: a busy machine", "to wrap"} {
		if !strings.Contains(all, want) {
			t.Errorf("the chart lacks %q", want)
		}
	}
}

func TestSummaryMarkdown(t *testing.T) {
	js := sampleJudged()
	started := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	sum := &Summary{Machine: &Machine{CPU: "AMD EPYC", Cores: 2, MemGiB: 23.5, OS: "linux/amd64", Go: "go1.26", BusyBefore: -1},
		Opts: defaultOptions(), Started: started, Finished: started.Add(9 * time.Minute)}
	for _, name := range []string{"pages", "signin", "backchannel", "memory"} {
		run := &ScenarioRun{Scenario: scenarioByName(name), Started: started, Finished: started.Add(time.Minute)}
		for _, j := range js {
			if j.Scenario == name {
				run.Judged = append(run.Judged, j)
			}
		}
		sum.Runs = append(sum.Runs, run)
	}
	sum.Opts.Note = "provisional"
	md := sum.Markdown()
	for _, want := range []string{
		"```sh\ngo run ./cmd/rpbench\n```",
		"> **Note:** provisional\n\n- **Machine**",
		"- **Machine**: AMD EPYC, 2 logical CPUs, 23.5 GiB RAM, linux/amd64.",
		"![Each goal: the measured value as a bar, the goal as a line](summary.svg)",
		"| [pages](pages.md) | rp, memory store ÷ bare handler, req/s | 0.62 | ≥ 0.5 | ✅ met |",
		"| [signin](signin.md) | rp's CPU per sign-in, sqlite <store> & co | 2.29 ms | < 2.00 ms | ❌ not met |",
		"| [memory](memory.md) | resident memory per session | — | < 4,096 B | n/a (failed: boom) |",
		"- [backchannel](backchannel.md): back-channel logout latency",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
	goals := sum.GoalsText()
	for _, want := range []string{"met      pages", "NOT MET  signin", "n/a      memory"} {
		if !strings.Contains(goals, want) {
			t.Errorf("console goals lack %q:\n%s", want, goals)
		}
	}
}

func TestParseOptions(t *testing.T) {
	var stderr strings.Builder
	o, list, err := parseOptions(nil, &stderr)
	if err != nil || list {
		t.Fatalf("defaults: %v %v %s", err, list, stderr.String())
	}
	if want := []string{"proxy", "pages", "signin", "memory", "backchannel", "anonymous"}; !slices.Equal(o.Scenarios, want) {
		t.Errorf("default scenarios %v, want every one: %v", o.Scenarios, want)
	}
	if !slices.Equal(o.Sessions, []int{1000, 100000, 1000000}) || o.OutDir != "docs/benchmarks" || o.Out != "" {
		t.Errorf("defaults: sessions %v, out-dir %q, out %q", o.Sessions, o.OutDir, o.Out)
	}

	o, _, err = parseOptions([]string{"-scenario", "pages, proxy,pages", "-targets", "sqlite", "-sessions", "100000,1000,1000"}, &stderr)
	if err != nil {
		t.Fatal(err, stderr.String())
	}
	if !slices.Equal(o.Scenarios, []string{"proxy", "pages"}) || !slices.Equal(o.Targets, []string{"sqlite"}) || !slices.Equal(o.Sessions, []int{1000, 100000}) {
		t.Errorf("got scenarios %v, targets %v, sessions %v", o.Scenarios, o.Targets, o.Sessions)
	}

	o, _, err = parseOptions([]string{"-out="}, &stderr)
	if err != nil || o.OutDir != "" || !o.OutSet {
		t.Errorf("-out= writes nothing: out-dir %q, %v", o.OutDir, err)
	}

	for _, args := range [][]string{
		{"-scenario", "nope"},
		{"-scenario", "signin", "-targets", "oauth2-proxy"}, // a target of another scenario
		{"-sessions", "1000,0"},
		{"-sessions", "ten"},
		{"-out", "x.md"}, // one file, several scenarios
		{"-logouts", "0"},
		{"-anonymous-logins", "0"},
		{"extra"},
	} {
		stderr.Reset()
		if _, _, err := parseOptions(args, &stderr); !errors.Is(err, errUsage) || stderr.Len() == 0 {
			t.Errorf("%q: err %v, stderr %q; want a usage error explained", args, err, stderr.String())
		}
	}
	if _, _, err := parseOptions([]string{"-scenario", "memory", "-out", "x.md"}, &stderr); err != nil {
		t.Errorf("-out with one scenario: %v", err)
	}
}

func TestReproduceCommand(t *testing.T) {
	o := defaultOptions()
	if got := reproduceCommand(o, ""); got != "go run ./cmd/rpbench" {
		t.Errorf("defaults: %q", got)
	}
	o.Sessions, o.Duration, o.RPEnv = []int{1000, 100000}, time.Second, []string{"GOGC=200"}
	if got, want := reproduceCommand(o, "backchannel"), "go run ./cmd/rpbench -scenario backchannel -sessions 1000,100000 -rp-env GOGC=200"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := reproduceCommand(o, ""), "go run ./cmd/rpbench -duration 1s -sessions 1000,100000 -rp-env GOGC=200"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	o.AnonLogins, o.Connections = 1000, 8
	if got, want := reproduceCommand(o, "anonymous"), "go run ./cmd/rpbench -scenario anonymous -c 8 -anonymous-logins 1000 -rp-env GOGC=200"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestBackchannelJudged(t *testing.T) {
	tg := &Target{Name: "redis", Label: "rp, redis store"}
	sizes := []int{1000, 100000, 1000000}
	r := bcResult{Target: tg, Sizes: []bcSize{{Sessions: 1000, P50: time.Millisecond}, {Sessions: 100000, P50: 1100 * time.Microsecond},
		{Sessions: 1000000, P50: 1400 * time.Microsecond}}}
	j := backchannelJudged(r, sizes)
	if j.Status != "met" || j.Measured != "1.40 (1.40 ms vs 1.00 ms)" || j.What != "logout p50 at 10⁶ ÷ at 10³ sessions, redis store" {
		t.Errorf("got %+v", j)
	}
	r.Sizes[2].P50 = 1600 * time.Microsecond
	if j := backchannelJudged(r, sizes); j.Status != "not met" {
		t.Errorf("1.6×: %q", j.Status)
	}
	r.Sizes, r.Err = r.Sizes[:1], errors.New("filling the store: out of memory")
	if j := backchannelJudged(r, sizes); j.Judged() || !strings.Contains(j.Status, "out of memory") {
		t.Errorf("failed: %q", j.Status)
	}
	if got := fmtCount(100000) + " " + fmtCount(20000) + " " + fmtCount(10); got != "10⁵ 20,000 10¹" {
		t.Errorf("fmtCount: %q", got)
	}
	table := backchannelTable([]bcResult{{Target: tg, Sizes: []bcSize{{Sessions: 1000, P50: time.Millisecond, Logouts: 100, BytesPer: 5964},
		{Sessions: 1000000, P50: 1200 * time.Microsecond, Logouts: 1000}}}}, []int{1000, 1000000})
	for _, want := range []string{"| rp, redis store | 1,000 | 100 | 1.00 ms |", "| 5,964 | 1.00 |", "| 1,000,000 | 1000 | 1.20 ms |", "| 1.20 |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

func TestFmtRatio(t *testing.T) {
	for _, tc := range []struct {
		x, goal float64
		want    string
	}{{0.83, 0.5, "0.83"}, {0.498, 0.5, "0.498"}, {0.5, 0.5, "0.50"}, {0.5012, 0.5, "0.501"}, {1.234, 0.7, "1.23"}} {
		if got := fmtRatio(tc.x, tc.goal); got != tc.want {
			t.Errorf("fmtRatio(%v, %v) = %q, want %q", tc.x, tc.goal, got, tc.want)
		}
	}
}

func TestReportJudged(t *testing.T) {
	sc := &Scenario{Name: "pages", Targets: []*Target{{Name: "handler", Label: "bare handler"}, {Name: "memory", Label: "rp, memory store"}},
		Goals: []Goal{{"memory", "handler", 0.5}}}
	rep := &Report{Scenario: sc, Machine: &Machine{Cores: 2}, Opts: Options{Count: 1}}
	for i, n := range []int64{1000, 600} {
		rep.Outcomes = append(rep.Outcomes, &Outcome{Target: sc.Targets[i], Rounds: []Result{result(1, n)}})
	}
	js := rep.Judged()
	if len(js) != 1 {
		t.Fatalf("%d judged", len(js))
	}
	j := js[0]
	if j.What != "rp, memory store ÷ bare handler, req/s" || j.Measured != "0.60" || j.Status != "met" || j.Value != 0.6 || j.Limit != 0.5 {
		t.Errorf("got %+v", j)
	}
	rep.Outcomes[1].Err = errors.New("rp exited")
	if j := rep.Judged()[0]; j.Judged() || j.Measured != "—" {
		t.Errorf("failed target: %+v", j)
	}
}
