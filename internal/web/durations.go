package web

import (
	"strconv"
	"time"
)

// wordUnits are the units inWords speaks in, smallest first.
var wordUnits = []struct {
	name string
	size time.Duration
}{
	{"second", time.Second},
	{"minute", time.Minute},
	{"hour", time.Hour},
	{"day", 24 * time.Hour},
}

// inWords says d the way a person would: one unit, rounded to the nearest
// ("45 seconds", "1 minute", "11 hours", "2 days"), never a Go duration
// like 1h0m0s. Below two of a unit a remainder keeps the smaller one, so
// that 90 minutes is not "2 hours" and 36 hours not "2 days"; a whole
// number of the larger unit takes it ("1 hour", "1 day"). Anything under
// half a second is "less than a second"; d below zero counts as zero.
func inWords(d time.Duration) string {
	d = max(d, 0)
	for i, u := range wordUnits {
		n := d.Round(u.size) / u.size
		if i == len(wordUnits)-1 {
			return count(int64(n), u.name)
		}
		ratio := wordUnits[i+1].size / u.size
		if n < ratio || (n < 2*ratio && n%ratio != 0) {
			if n == 0 {
				return "less than a second"
			}
			return count(int64(n), u.name)
		}
	}
	panic("unreachable")
}

// count is "1 hour", "2 hours".
func count(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}

// agoInWords says how long before now t was: "just now" under a minute,
// then "5 minutes ago", "3 days ago".
func agoInWords(now, t time.Time) string {
	d := now.Sub(t)
	if d < time.Minute {
		return "just now"
	}
	return inWords(d) + " ago"
}

// sessionEnds says, at now, when a session ends: "in 11 hours" for the end
// of its lifetime (when it ends even if used all along), then ", or after
// 1 hour without use" for an idle timeout (0: none) that could end it
// sooner. A lifetime that has run out is "now".
func sessionEnds(now, lifetimeEnd time.Time, idle time.Duration) string {
	left := lifetimeEnd.Sub(now)
	if left <= 0 {
		return "now"
	}
	s := "in " + inWords(left)
	if idle > 0 && idle < left {
		s += ", or after " + inWords(idle) + " without use"
	}
	return s
}

// dateInWords is t as a person reads it, to the minute and in UTC (rp does
// not know the user's time zone without script): "27 Nov 2026, 14:05 UTC".
func dateInWords(t time.Time) string {
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

// isoTime is t for a <time datetime> attribute.
func isoTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// seenAgo is agoInWords, or "unknown" for a zero time.
func seenAgo(now, t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return agoInWords(now, t)
}
