package main

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"text/template"
	"time"
)

// Judged is one goal judged in a run: a row of the summary's table and a
// bar of its chart.
type Judged struct {
	Scenario string
	What     string  // what is measured, e.g. "rp on the memory store ÷ bare handler, req/s"
	Goal     string  // e.g. "≥ 0.5", "< 2 ms"
	Measured string  // the value as the report gives it, e.g. "0.83", "1.21 ms"
	Value    float64 // charted: the bar
	Limit    float64 // charted: the goal line
	Unit     string  // of Value and Limit, e.g. "×", "ms", "bytes"
	Higher   bool    // the goal is Value ≥ Limit; otherwise Value < Limit (or ≤, as Goal says)
	Status   string  // "met", "not met", "not met (…)" or "n/a…"
}

// Met reports whether the goal was met.
func (j Judged) Met() bool { return j.Status == "met" }

// Judged reports whether the goal could be judged at all.
func (j Judged) Judged() bool { return !strings.HasPrefix(j.Status, "n/a") }

// judge fills in Status from Value and Limit.
func judge(j Judged, strict bool) Judged {
	switch {
	case math.IsNaN(j.Value):
		j.Status = "n/a"
	case j.Higher && j.Value >= j.Limit, !j.Higher && strict && j.Value < j.Limit, !j.Higher && !strict && j.Value <= j.Limit:
		j.Status = "met"
	default:
		j.Status = "not met"
	}
	return j
}

// ScenarioRun is what one scenario's run gives the summary.
type ScenarioRun struct {
	Scenario          *Scenario
	Started, Finished time.Time
	Markdown          string // the scenario's report
	Console           string // printed at the end of the run
	Judged            []Judged
	Failed            bool  // a target failed to run (not skipped)
	Err               error // the scenario could not run at all
	Partial           bool  // only some targets were selected
	Noisy             bool  // measured while other processes took over 10% of the machine
}

// Summary is a whole run of rpbench over several scenarios.
type Summary struct {
	Machine           *Machine
	Opts              Options
	Started, Finished time.Time
	Runs              []*ScenarioRun
}

// Judged is every goal of every scenario, in order.
func (s *Summary) Judged() []Judged {
	var all []Judged
	for _, r := range s.Runs {
		all = append(all, r.Judged...)
	}
	return all
}

// GoalsText is the goals as the console shows them at the end.
func (s *Summary) GoalsText() string {
	var b strings.Builder
	b.WriteString("Goals:\n")
	for _, j := range s.Judged() {
		mark := "NOT MET"
		switch {
		case j.Met():
			mark = "met    "
		case !j.Judged():
			mark = "n/a    "
		}
		fmt.Fprintf(&b, "  %s  %-12s %s: %s (goal %s)", mark, j.Scenario, j.What, j.Measured, j.Goal)
		if !j.Met() && j.Status != "not met" {
			fmt.Fprintf(&b, " [%s]", j.Status)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Markdown is docs/benchmarks/README.md: the machine, the command, every
// goal and the links to each scenario's report.
func (s *Summary) Markdown() string {
	var b strings.Builder
	b.WriteString("# rp's benchmarks\n\n")
	b.WriteString("<!-- Written by `go run ./cmd/rpbench`. Run it again rather than editing this file. -->\n\n")
	fmt.Fprintf(&b, "Run on %s UTC (%s), with one command from the repository:\n\n```sh\n%s\n```\n\n",
		s.Started.Format("2006-01-02 15:04"), s.Finished.Sub(s.Started).Round(time.Second), reproduceCommand(s.Opts, ""))
	b.WriteString(machineMarkdown(s.Machine, s.Opts))
	var noisy []string
	for _, r := range s.Runs {
		if r.Noisy {
			noisy = append(noisy, r.Scenario.Name)
		}
	}
	if len(noisy) > 0 {
		fmt.Fprintf(&b, "\n⚠ Some results of %s were measured while other processes took more than %.0f%% of the machine's CPU time: "+
			"they are less reliable (see the reports).\n", strings.Join(noisy, ", "), 100*noiseLimit)
	}
	b.WriteString("\nEvery result is measured against a baseline from the same run, on the same machine, " +
		"and the goals are judged on those ratios or on rp's own CPU time and memory, which carry over to other machines better than absolute numbers.\n\n")
	b.WriteString("![Each goal: the measured value as a bar, the goal as a line](summary.svg)\n\n")
	b.WriteString("| scenario | what | measured | goal | |\n|---|---|---:|---|---|\n")
	for _, j := range s.Judged() {
		status := j.Status
		if j.Met() {
			status = "✅ met"
		} else if j.Judged() {
			status = "❌ " + status
		}
		fmt.Fprintf(&b, "| [%s](%s.md) | %s | %s | %s | %s |\n", j.Scenario, j.Scenario, mdCell(j.What), j.Measured, j.Goal, mdCell(status))
	}
	b.WriteString("\n## Reports\n\n")
	for _, r := range s.Runs {
		what := r.Scenario.Title
		if r.Err != nil {
			what += " (did not run: " + mdCell(r.Err.Error()) + ")"
		}
		fmt.Fprintf(&b, "- [%s](%s.md): %s, %s.\n", r.Scenario.Name, r.Scenario.Name, what, r.Finished.Sub(r.Started).Round(time.Second))
	}
	return b.String()
}

// wrap breaks s into lines of at most width characters, between words.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len([]rune(line))+1+len([]rune(w)) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

func mdCell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\n", " "), "|", "\\|")
}

// chartRow is one goal's bar in the SVG.
type chartRow struct {
	Y                   int
	Label, Value, Goal  string
	BarWidth, GoalX     float64 // GoalX: where the goal line is
	Color, StatusText   string
	LabelY, BarY, TextY int
}

// GoalY1 and GoalY2 are the goal line's ends, a little past the bar's.
func (r chartRow) GoalY1() int { return r.BarY - 3 }
func (r chartRow) GoalY2() int { return r.BarY + 23 }

// chart lays out the summary's goals: one row each, the bar the measured
// value and a dark line the goal. The goals have different units, so each
// row has its own scale, from 0 to twice the goal: the goal line is at the
// same place on every row, a longer bar is more (better for a ≥ goal,
// worse for a < goal), and a value past twice the goal fills the row. A
// goal of nothing (none added) has its line at 0, and anything above it
// fills the row.
func chart(judged []Judged) (rows []chartRow, height int) {
	const barMax = 440.0
	y := 56
	for _, j := range judged {
		r := chartRow{Y: y, LabelY: y + 14, BarY: y + 22, TextY: y + 37,
			Label: j.Scenario + ": " + j.What, Value: j.Measured, Goal: "goal " + j.Goal}
		full := 2 * j.Limit
		nothing := j.Limit == 0 && !j.Higher // a goal of nothing, e.g. no key added
		if !j.Judged() || (full <= 0 && !nothing) || math.IsNaN(j.Value) || math.IsInf(j.Value, 0) {
			r.Color, r.StatusText, r.GoalX = "#8c959f", "not measured", 20+barMax/2
		} else {
			r.GoalX = 20 + barMax/2
			if nothing {
				// The goal line at 0: anything above it fills the row.
				r.GoalX, r.BarWidth = 20, 1
				if j.Value > 0 {
					r.BarWidth = barMax
				}
			} else {
				r.BarWidth = math.Max(1, barMax*math.Min(j.Value, full)/full)
			}
			r.Color, r.StatusText = "#1a7f37", "met"
			if !j.Met() {
				r.Color, r.StatusText = "#cf222e", j.Status
			}
		}
		rows = append(rows, r)
		y += 56
	}
	return rows, y + 24
}

var svgTemplate = template.Must(template.New("svg").Parse(`<svg xmlns="http://www.w3.org/2000/svg" width="960" height="{{.Height}}" viewBox="0 0 960 {{.Height}}" font-family="sans-serif" font-size="13">
<title>rp's benchmark goals: {{.Title}}</title>
<rect x="0" y="0" width="960" height="{{.Height}}" fill="#ffffff"/>
<text x="20" y="28" font-size="16" font-weight="bold" fill="#1f2328">rp's benchmark goals</text>
{{range .Head}}<text x="20" y="{{.Y}}"{{if .Bold}} font-weight="bold"{{end}} fill="{{.Fill}}">{{.Text}}</text>
{{end}}{{range .Rows}}<g>
<text x="20" y="{{.LabelY}}" fill="#1f2328">{{.Label}}</text>
<rect x="20" y="{{.BarY}}" width="{{printf "%.1f" .BarWidth}}" height="20" fill="{{.Color}}"/>
<line x1="{{printf "%.1f" .GoalX}}" y1="{{.GoalY1}}" x2="{{printf "%.1f" .GoalX}}" y2="{{.GoalY2}}" stroke="#1f2328" stroke-width="2"/>
<text x="480" y="{{.TextY}}" fill="#1f2328">{{.Value}} ({{.Goal}}): {{.StatusText}}</text>
</g>
{{end}}</svg>
`))

// SVG is docs/benchmarks/summary.svg: horizontal bars of every goal
// against its goal line, on a white background (readable in light and
// dark themes), no script and no external font.
func (s *Summary) SVG() ([]byte, error) {
	return goalsSVG(s.Judged(), fmt.Sprintf("%s, %d logical CPUs, %s UTC", s.Machine.CPU, s.Machine.Cores, s.Started.Format("2006-01-02")), s.Opts.Note)
}

func goalsSVG(judged []Judged, title, note string) ([]byte, error) {
	rows, height := chart(judged)
	type line struct {
		Y          int
		Text, Fill string
		Bold       bool
	}
	// The header: the machine and how to read the chart, then the note;
	// the rows below start 10 px lower per line past the first.
	var head []line
	for _, l := range wrap(title+". Bars: measured; black line: the goal, each row scaled from 0 to twice its goal (a goal of 0: the line at the left, anything more fills the row).", 120) {
		head = append(head, line{Text: l, Fill: "#57606a"})
	}
	if note != "" {
		for _, l := range wrap("Note: "+note, 120) {
			head = append(head, line{Text: l, Fill: "#9a6700", Bold: true})
		}
	}
	for i := range head {
		head[i].Y = 46 + 18*i
	}
	extra := 18 * (len(head) - 1)
	for i := range rows {
		rows[i].LabelY += extra
		rows[i].BarY += extra
		rows[i].TextY += extra
	}
	height += extra
	var b bytes.Buffer
	// text/template with html escaping of its own: the SVG is XML.
	esc := func(s string) string {
		var x bytes.Buffer
		template.HTMLEscape(&x, []byte(s))
		return x.String()
	}
	for i := range head {
		head[i].Text = esc(head[i].Text)
	}
	for i := range rows {
		rows[i].Label, rows[i].Value, rows[i].Goal, rows[i].StatusText = esc(rows[i].Label), esc(rows[i].Value), esc(rows[i].Goal), esc(rows[i].StatusText)
	}
	err := svgTemplate.Execute(&b, struct {
		Height int
		Title  string
		Head   []line
		Rows   []chartRow
	}{height, esc(title), head, rows})
	return b.Bytes(), err
}
