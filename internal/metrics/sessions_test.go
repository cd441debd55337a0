package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(w.Result().Body)
	return string(b)
}

// TestSessionsActive: the gauge shows the store's count, asks the store at
// most once per interval whatever the number of scrapes, and is left out
// (not reported stale) while the store cannot be read.
func TestSessionsActive(t *testing.T) {
	m := New()
	calls, n, fail := 0, int64(7), false
	now := time.Unix(1_000_000, 0)
	m.reg.MustRegister(&sessionsCollector{count: func(context.Context) (int64, error) {
		calls++
		if fail {
			return 0, errors.New("store down")
		}
		return n, nil
	}, every: time.Hour, now: func() time.Time { return now }})

	if out := scrape(t, m); !strings.Contains(out, "\nrp_sessions_active 7\n") {
		t.Fatalf("gauge missing:\n%s", grep(out, "rp_sessions"))
	}
	n = 9
	scrape(t, m)
	if calls != 1 {
		t.Fatalf("two scrapes within the interval counted %d times", calls)
	}
	now = now.Add(time.Hour)
	if out := scrape(t, m); !strings.Contains(out, "\nrp_sessions_active 9\n") || calls != 2 {
		t.Fatalf("after the interval: %d calls\n%s", calls, grep(out, "rp_sessions"))
	}
	fail = true
	now = now.Add(time.Hour)
	if out := scrape(t, m); strings.Contains(out, "\nrp_sessions_active ") {
		t.Fatalf("a failed count reported a value:\n%s", grep(out, "rp_sessions"))
	}
	fail = false
	now = now.Add(time.Hour)
	if out := scrape(t, m); !strings.Contains(out, "\nrp_sessions_active 9\n") {
		t.Fatalf("the gauge did not come back:\n%s", grep(out, "rp_sessions"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
