package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/config"
)

// TestServeMetricsOnItsOwnListener: RP_METRICS_ADDR serves /metrics alone.
func TestServeMetricsOnItsOwnListener(t *testing.T) {
	env := map[string]string{"RP_ISSUER": "https://op.example", "RP_CLIENT_ID": "rp", "RP_CLIENT_SECRET": "s",
		"RP_BASE_URL": "https://rp.example", "RP_SESSION_STORE": "memory", "RP_METRICS_ADDR": "127.0.0.1:0"}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := a.ServeMetrics(ln, slog.New(slog.DiscardHandler))
	defer stop()
	res, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "rp_store_reads_total") {
		t.Fatalf("/metrics: %d %.200s", res.StatusCode, b)
	}
	if res, err := http.Get("http://" + ln.Addr().String() + "/profile"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("the metrics listener serves more than /metrics: %v %v", res.StatusCode, err)
	}
}

// TestSessionsGauge: rp_sessions_active is on /metrics where the store
// counts cheaply (memory here), and absent on Redis, which cannot.
func TestSessionsGauge(t *testing.T) {
	for _, c := range []struct {
		store string
		want  bool
	}{{"memory", true}, {"redis://127.0.0.1:6379/15", false}} {
		env := map[string]string{"RP_ISSUER": "https://op.example", "RP_CLIENT_ID": "rp", "RP_CLIENT_SECRET": "s",
			"RP_BASE_URL": "https://rp.example", "RP_SESSION_STORE": c.store, "RP_METRICS_ADDR": "127.0.0.1:0"}
		cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(context.Background(), cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		stop := a.ServeMetrics(ln, slog.New(slog.DiscardHandler))
		res, err := http.Get("http://" + ln.Addr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		stop()
		a.Close()
		if got := strings.Contains(string(b), "\nrp_sessions_active 0\n"); got != c.want {
			t.Errorf("%s: rp_sessions_active 0 shown: %v, want %v", c.store, got, c.want)
		}
	}
}
