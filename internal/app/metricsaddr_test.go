//go:build unix

package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/app"
	"github.com/rp-project/rp/internal/config"
)

// TestRunSaysWhereMetricsAre: rp serves /metrics where RP_METRICS_ADDR
// says, nowhere without it, and its start log says which, and how to
// change it.
func TestRunSaysWhereMetricsAre(t *testing.T) {
	own := freeAddr(t)
	for _, tc := range []struct {
		setting string
		mainURL int    // status of GET /metrics on RP_ADDR
		ownURL  bool   // GET /metrics on own answers
		log     string // in the start log
	}{
		{"", http.StatusNotFound, false, "metrics: off"},
		{"main", http.StatusOK, false, "anyone who reaches rp reads them"},
		{own, http.StatusNotFound, true, "metrics: GET /metrics on its own listener"},
	} {
		t.Run("RP_METRICS_ADDR="+tc.setting, func(t *testing.T) {
			addr := freeAddr(t)
			env := map[string]string{"RP_ISSUER": "https://op.example", "RP_CLIENT_ID": "rp", "RP_CLIENT_SECRET": "s",
				"RP_BASE_URL": "http://" + addr, "RP_ADDR": addr, "RP_SESSION_STORE": "memory",
				"RP_METRICS_ADDR": tc.setting, "RP_SHUTDOWN_TIMEOUT": "1s"}
			cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			var logs lockedBuffer
			logger := slog.New(slog.NewTextHandler(io.MultiWriter(&logs, t.Output()), nil))
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan error, 1)
			go func() { ran <- app.Run(ctx, cfg, logger) }()
			defer func() {
				cancel()
				if err := <-ran; err != nil {
					t.Errorf("Run: %v", err)
				}
			}()
			// The metrics line comes once every listener is up.
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "msg=\"metrics:"); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no metrics line in the start log:\n%s", logs.String())
				}
			}
			if n := strings.Count(logs.String(), "msg=\"metrics:"); n != 1 || !strings.Contains(logs.String(), tc.log) {
				t.Errorf("start log: %d metrics lines, want one saying %q:\n%s", n, tc.log, logs.String())
			}
			if got := status(t, "http://"+addr+"/metrics"); got != tc.mainURL {
				t.Errorf("GET /metrics on RP_ADDR: %d, want %d", got, tc.mainURL)
			}
			if tc.ownURL {
				if got := status(t, "http://"+own+"/metrics"); got != http.StatusOK {
					t.Errorf("GET /metrics on RP_METRICS_ADDR: %d", got)
				}
			}
		})
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}
