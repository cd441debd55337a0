package web

import (
	"encoding/json"
	"testing"
	"time"
)

func TestClaimValueReadsAsAPersonWould(t *testing.T) {
	for _, c := range []struct {
		name, raw, want string
	}{
		{"email", `"alice@example.com"`, "alice@example.com"},
		{"groups", `["admins","staff"]`, "admins, staff"},
		{"groups", `[]`, "(none)"},
		{"email_verified", `true`, "true"},
		{"exp", `1795785678`, "1795785678 (27 Nov 2026, 13:21 UTC)"},
		{"age", `1795785678`, "1795785678"},
		{"address", "{\"street\": \"Main St\",\n \"zip\": 1}", `{"street":"Main St","zip":1}`},
		{"name", `"<script>x</script>"`, "<script>x</script>"}, // the template escapes it
	} {
		if got := claimValue(c.name, json.RawMessage(c.raw)); got != c.want {
			t.Errorf("claimValue(%s, %s) = %q, want %q", c.name, c.raw, got, c.want)
		}
	}
}

func TestTimesInWords(t *testing.T) {
	now := time.Date(2026, 11, 27, 14, 5, 30, 0, time.FixedZone("CET", 3600))
	if got := dateInWords(now); got != "27 Nov 2026, 13:05 UTC" {
		t.Errorf("dateInWords = %q", got)
	}
	if got := isoTime(now); got != "2026-11-27T13:05:30Z" {
		t.Errorf("isoTime = %q", got)
	}
	for d, want := range map[time.Duration]string{0: "just now", 5 * time.Minute: "5 minutes ago", 3 * time.Hour: "3 hours ago"} {
		if got := seenAgo(now, now.Add(-d)); got != want {
			t.Errorf("seenAgo(%s) = %q, want %q", d, got, want)
		}
	}
	if got := seenAgo(now, time.Time{}); got != "unknown" {
		t.Errorf("seenAgo(zero) = %q", got)
	}
}
