package app

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/config"
	"github.com/rp-project/rp/internal/logbuf"
)

type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWarningsAreNotKeptWaiting: behind a buffering writer, request lines
// wait for the batch, and a WARN line is written at once, with them.
func TestWarningsAreNotKeptWaiting(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var out lockedBuilder
		w := logbuf.New(&out, time.Hour)
		log := NewLogger(config.Config{LogLevel: "info", LogFormat: format}, w)
		log.With("k", "v").WithGroup("g").Info("request", "status", 200)
		if out.String() != "" {
			t.Fatalf("%s: an INFO line was written before its batch: %q", format, out.String())
		}
		log.With("k", "v").Warn("back-channel logout refused")
		got := out.String()
		if !strings.Contains(got, "request") || !strings.Contains(got, "back-channel logout refused") {
			t.Fatalf("%s: the WARN line did not flush the batch: %q", format, got)
		}
		w.Close()
	}
}
