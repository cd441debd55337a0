package web

import (
	"regexp"
	"testing"
	"time"
)

// goDuration is how time.Duration prints: what a page must never show.
var goDuration = regexp.MustCompile(`\d+(\.\d+)?(h|m|s|ms|µs|ns)\d*`)

func TestInWords(t *testing.T) {
	const (
		s   = time.Second
		m   = time.Minute
		h   = time.Hour
		day = 24 * time.Hour
	)
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-5 * s, "less than a second"},
		{0, "less than a second"},
		{499 * time.Millisecond, "less than a second"},
		{500 * time.Millisecond, "1 second"},
		{s, "1 second"},
		{45 * s, "45 seconds"},
		{59*s + 400*time.Millisecond, "59 seconds"},
		{59*s + 600*time.Millisecond, "1 minute"},
		{m, "1 minute"},
		{90 * s, "90 seconds"},
		{2 * m, "2 minutes"},
		{2*m + 29*s, "2 minutes"},
		{2*m + 30*s, "3 minutes"},
		{3 * m, "3 minutes"},
		{59 * m, "59 minutes"},
		{59*m + 31*s, "1 hour"},
		{h, "1 hour"},
		{h + 20*s, "1 hour"},
		{90 * m, "90 minutes"},
		{h + 59*m + 40*s, "2 hours"},
		{2 * h, "2 hours"},
		{11 * h, "11 hours"},
		{11*h + 29*m, "11 hours"},
		{11*h + 30*m, "12 hours"},
		{12*h - time.Millisecond, "12 hours"},
		{23*h + 40*m, "1 day"},
		{day, "1 day"},
		{36 * h, "36 hours"},
		{47 * h, "47 hours"},
		{47*h + 40*m, "2 days"},
		{2 * day, "2 days"},
		{2*day + 11*h, "2 days"},
		{2*day + 12*h, "3 days"},
		{30 * day, "30 days"},
		{400 * day, "400 days"},
	} {
		got := inWords(c.d)
		if got != c.want {
			t.Errorf("inWords(%v) = %q, want %q", c.d, got, c.want)
		}
		if goDuration.MatchString(got) {
			t.Errorf("inWords(%v) = %q looks like a Go duration", c.d, got)
		}
	}
}

func TestAgoInWords(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		-time.Second:                 "just now", // a clock step backwards
		0:                            "just now",
		59 * time.Second:             "just now",
		time.Minute:                  "1 minute ago",
		5 * time.Minute:              "5 minutes ago",
		11 * time.Hour:               "11 hours ago",
		3 * 24 * time.Hour:           "3 days ago",
		3*24*time.Hour + time.Second: "3 days ago",
		36 * time.Hour:               "36 hours ago",
		90 * time.Minute:             "90 minutes ago",
		2*time.Hour + time.Minute:    "2 hours ago",
		47*time.Hour + time.Minute:   "47 hours ago",
	} {
		if got := agoInWords(now, now.Add(-d)); got != want {
			t.Errorf("agoInWords(now - %v) = %q, want %q", d, got, want)
		}
	}
}

func TestSessionEnds(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		left time.Duration // until the lifetime's end
		idle time.Duration
		want string
	}{
		{"the defaults, hours after sign-in", 11 * time.Hour, time.Hour, "in 11 hours, or after 1 hour without use"},
		{"just signed in", 12*time.Hour - 3*time.Second, time.Hour, "in 12 hours, or after 1 hour without use"},
		{"no idle timeout", 11 * time.Hour, 0, "in 11 hours"},
		{"long sessions", 7 * 24 * time.Hour, 8 * time.Hour, "in 7 days, or after 8 hours without use"},
		{"short idle timeout", 3 * time.Hour, 90 * time.Minute, "in 3 hours, or after 90 minutes without use"},
		{"the lifetime ends before the idle timeout could", 20 * time.Minute, time.Hour, "in 20 minutes"},
		{"both at once", time.Hour, time.Hour, "in 1 hour"},
		{"last minutes", 3 * time.Minute, time.Minute, "in 3 minutes, or after 1 minute without use"},
		{"last seconds", 10 * time.Second, time.Hour, "in 10 seconds"},
		{"over", 0, time.Hour, "now"},
		{"long over", -time.Hour, time.Hour, "now"},
	} {
		got := sessionEnds(now, now.Add(c.left), c.idle)
		if got != c.want {
			t.Errorf("%s: sessionEnds(+%v, idle %v) = %q, want %q", c.name, c.left, c.idle, got, c.want)
		}
	}
}
