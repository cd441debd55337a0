package session

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRedisClientLogsGoThroughSlog: with Redis down, go-redis's pool logs
// its failed dials; after LogRedisTo they are structured WARN lines of
// rp's logger (JSON here), not plain lines on stderr.
func TestRedisClientLogsGoThroughSlog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there: every dial is refused

	var buf lockedBuf
	LogRedisTo(slog.New(slog.NewJSONHandler(&buf, nil)))
	t.Cleanup(func() { LogRedisTo(nil) })

	m, err := Open(context.Background(), Options{Store: "redis://" + addr + "/0", StoreTimeout: 2 * time.Second, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Ping(context.Background()); err == nil {
		t.Fatal("Ping succeeded with nothing listening")
	}
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if !strings.HasPrefix(line, "{") {
			t.Errorf("not a JSON log line: %s", line)
		}
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, `"msg":"redis client"`) &&
			strings.Contains(line, "failed to dial") && strings.Contains(line, addr) {
			found = true
		}
	}
	if !found {
		t.Fatalf("go-redis's failed dial is not in rp's log:\n%s", buf.String())
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
