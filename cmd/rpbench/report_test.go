package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func result(round int, ok int64) Result {
	return Result{Round: round, LoadResult: LoadResult{OK: ok, Window: time.Second, P50: time.Millisecond, P99: 2 * time.Millisecond}}
}

func TestReportRatiosAndGoals(t *testing.T) {
	sc := &Scenario{
		Name: "x", Title: "x",
		Targets:   []*Target{{Name: "base", Label: "base"}, {Name: "a", Label: "A"}, {Name: "b", Label: "B"}, {Name: "c", Label: "C"}},
		Baselines: []Baseline{{"base", "× base"}},
		Goals:     []Goal{{"a", "base", 0.7}, {"b", "base", 0.7}, {"c", "base", 0.5}},
	}
	rep := &Report{Scenario: sc, Machine: &Machine{Cores: 2}, Opts: Options{Count: 3}}
	rounds := map[string][]int64{
		"base": {1000, 2000, 1000},
		"a":    {800, 1200, 900}, // ratios 0.8, 0.6, 0.9: median 0.8
		"b":    {600, 1600, 650}, // 0.6, 0.8, 0.65: median 0.65
	}
	for _, tg := range sc.Targets {
		o := &Outcome{Target: tg}
		for i, n := range rounds[tg.Name] {
			o.Rounds = append(o.Rounds, result(i+1, n))
		}
		if tg.Name == "c" {
			o.Err, o.Skipped = errors.Join(errors.New("Redis is not reachable"), errSkip), true
		}
		rep.Outcomes = append(rep.Outcomes, o)
	}
	med, lo, hi, ok := rep.Ratio("a", "base")
	if !ok || med != 0.8 || lo != 0.6 || hi != 0.9 {
		t.Errorf("Ratio(a) = %v %v %v %v", med, lo, hi, ok)
	}
	if s := rep.GoalStatus(sc.Goals[0]); s != "met" {
		t.Errorf("a: %s", s)
	}
	if s := rep.GoalStatus(sc.Goals[1]); s != "not met" {
		t.Errorf("b: %s", s)
	}
	if s := rep.GoalStatus(sc.Goals[2]); s != "n/a" {
		t.Errorf("c: %s", s)
	}
	if rep.Failed() {
		t.Error("a skipped target counts as a failure")
	}
	table := rep.Table()
	for _, want := range []string{
		"| A | 900 (800–1,200) | 1.00 ms | 2.00 ms | 0 | 0.80 (0.60–0.90) |",
		"≥ 0.7× base: met |", "≥ 0.7× base: not met |", "not run: Redis is not reachable",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	rep.Outcomes[1].Rounds[0].Errors = 3
	if s := rep.GoalStatus(sc.Goals[0]); s != "not met (3 errors)" {
		t.Errorf("a with errors: %s", s)
	}
}
