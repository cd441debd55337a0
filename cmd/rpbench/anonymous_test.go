package main

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func anonSample(unit string, counts []int64, sizes []int64) anonResult {
	r := anonResult{Target: &Target{Name: "redis", Label: "rp, redis store"}, TolBytes: 64 << 10, SizeOf: "used_memory", Tolerance: "64.0 KiB", Why: "bookkeeping"}
	r.Before = storeLevel{Unit: unit, Count: counts[0], Size: sizes[0], Parts: map[string]int64{"rp:s:": counts[0]}}
	for i := 1; i < len(counts); i++ {
		r.Phases = append(r.Phases, anonPhase{What: "step", Sent: 100, Load: LoadResult{OK: 100, Window: 20 * time.Millisecond, Statuses: map[int]int64{303: 100}},
			After: storeLevel{Unit: unit, Count: counts[i], Size: sizes[i], Parts: map[string]int64{"rp:s:": counts[i]}}})
	}
	return r
}

func TestAnonymousJudged(t *testing.T) {
	o := defaultOptions()
	grew := anonSample("keys", []int64{0, 100000, 100000, 100001}, []int64{1 << 20, 301 << 20, 301 << 20, 302 << 20})
	j := anonymousJudged(grew, o)
	if j.Status != "not met" || j.Measured != "+100,001 keys, +301.0 MiB" || j.Value != 100001 || j.Limit != 0 || j.Goal != "0 keys, ±64.0 KiB" {
		t.Errorf("growth: %+v", j)
	}
	if want := "store growth from 100,000 anonymous /login and 20,000 forged /callback, redis store"; j.What != want {
		t.Errorf("what: %q, want %q", j.What, want)
	}

	flat := anonSample("keys", []int64{0, 0, 0, 0}, []int64{1 << 20, 1<<20 + 4096, 1<<20 + 100, 1<<20 + 8192})
	if j := anonymousJudged(flat, o); j.Status != "met" || j.Measured != "+0 keys, +8,192 B" || j.Value != 0 {
		t.Errorf("within the tolerance: %+v", j)
	}
	over := anonSample("keys", []int64{0, 0, 0, 0}, []int64{1 << 20, 1 << 20, 1 << 20, 1<<20 + 65<<10})
	if j := anonymousJudged(over, o); j.Status != "not met" {
		t.Errorf("past the tolerance without a key: %q", j.Status)
	}
	over.Phases[2].After.Others = "db0:keys=3,expires=0,avg_ttl=0"
	if j := anonymousJudged(over, o); j.Judged() || !strings.Contains(j.Status, "other databases") {
		t.Errorf("another client wrote meanwhile: %q", j.Status)
	}

	short := anonSample("rows", []int64{3, 3, 3, 3}, []int64{4096, 4096, 4096, 4096})
	short.TolBytes = 0
	short.Phases[0].Load = LoadResult{OK: 90, Errors: 10, Statuses: map[int]int64{303: 90, 503: 10}}
	if j := anonymousJudged(short, o); j.Status != "not met (10 requests not answered as wanted)" || j.Goal != "0 rows, +0 B" {
		t.Errorf("errors: %+v", j)
	}
	short.Phases[0].Load = LoadResult{OK: 90, Statuses: map[int]int64{303: 90}} // ten never sent
	if j := anonymousJudged(short, o); !strings.HasPrefix(j.Status, "not met (10") {
		t.Errorf("requests not sent: %q", j.Status)
	}

	mem := anonSample("", []int64{0, 0, 0, 0}, []int64{1 << 20, 1 << 20, 1 << 20, 1<<20 + 64<<10})
	mem.TolBytes = 0
	if j := anonymousJudged(mem, o); j.Status != "not met" || j.Measured != "+64.0 KiB" || j.Value != 64<<10 || j.Unit != "bytes" || j.Goal != "+0 B" {
		t.Errorf("memory store, one page added: %+v", j)
	}

	failed := anonSample("keys", []int64{0}, []int64{0})
	failed.Err = errors.New("rp exited")
	if j := anonymousJudged(failed, o); j.Judged() || j.Measured != "—" || !strings.Contains(j.Status, "rp exited") {
		t.Errorf("failed: %+v", j)
	}
}

func TestAnonymousTable(t *testing.T) {
	r := anonSample("keys", []int64{0, 100000, 100000, 100001}, []int64{1 << 20, 301 << 20, 301 << 20, 302 << 20})
	r.Phases[0].What = "GET /login?return_to=<2,048-byte path>, no cookie"
	r.Before.Info = []levelInfo{{"used_memory", 1 << 20}}
	skipped := anonResult{Target: &Target{Name: "postgres", Label: "rp, postgres store"}, Err: errors.New("PostgreSQL is not reachable"), Skipped: true}
	table := anonymousTable([]anonResult{r, skipped})
	for _, want := range []string{
		"| rp, redis store | before | | | | | | | 0 | 1.0 MiB | used_memory 1.0 MiB |",
		"| rp, redis store | GET /login?return_to=<2,048-byte path>, no cookie | 100 | 303 × 100 | 5,000 |",
		"| 100,000 (+100,000) | 301.0 MiB (+300.0 MiB) |",
		"| 100,001 (+1) | 302.0 MiB (+1.0 MiB) |",
		"| rp, postgres store | — |", "not run: PostgreSQL is not reachable |",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if got, want := partsDoc(r), "`rp:s:` 0 → 100,000 → 100,000 → 100,001"; got != want {
		t.Errorf("partsDoc: %q, want %q", got, want)
	}
}

func TestLongReturnTo(t *testing.T) {
	p := longReturnTo()
	if len(p) != returnToBytes || !strings.HasPrefix(p, "/rpbench-") || strings.Contains(p, "//") || url.PathEscape(p) != strings.ReplaceAll(p, "/", "%2F") {
		t.Errorf("return_to %d bytes: %.60q…", len(p), p)
	}
}

func TestAnonymousFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fmtSize(512), "512 B"}, {fmtSize(12 << 10), "12.0 KiB"}, {fmtSize(300 << 20), "300.0 MiB"},
		{fmtSizeDelta(0), "+0 B"}, {fmtSizeDelta(-8192), "−8,192 B"}, {fmtCountDelta(0), "+0"}, {fmtCountDelta(-3), "−3"},
		{statusesDoc(map[int]int64{400: 9999, 303: 1}), "303 × 1, 400 × 9,999"}, {statusesDoc(nil), "no answer"},
		{keyPrefix("rp:s:abc"), "rp:s:"}, {keyPrefix("rp:sid:iss:x"), "rp:sid:"}, {keyPrefix("rp:x"), "rp:x"}, {keyPrefix("plain"), "plain"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
