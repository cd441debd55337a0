package session

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rp-project/rp/internal/session/sessiontest"
)

// TestRedisKeysAllExpire: nothing rp writes to Redis lives forever, and
// nothing outlives its session by more than the index's grace.
func TestRedisKeysAllExpire(t *testing.T) {
	spec := sessiontest.Redis(t)
	m, err := Open(context.Background(), Options{Store: spec, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := signIn(t, m, Login{Issuer: "https://ttl.example", Subject: "alice", SID: "s1"})
	if first, err := m.Claim(context.Background(), "jti", "j1", time.Now().Add(time.Minute)); err != nil || !first {
		t.Fatal(first, err)
	}
	if !loggedIn(t, m, c) {
		t.Fatal("not signed in")
	}

	u, _ := url.Parse(spec)
	prefix := u.Query().Get("key_prefix")
	opts, _ := redis.ParseURL(sessiontest.RedisURL())
	rc := redis.NewClient(opts)
	defer rc.Close()
	ctx := context.Background()
	keys, err := rc.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 6 { // session, its tokens, entry, sid set, sub set, claim
		t.Fatalf("keys: %v", keys)
	}
	for _, k := range keys {
		ttl, err := rc.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > time.Hour+indexGrace {
			t.Errorf("%s has TTL %v", k, ttl)
		}
	}
}

// TestRedisServerStoppedAndRestarted stops a real Redis server (a private
// one, with an append-only file) under a running Manager and starts it
// again on the same port: calls fail with ErrStore meanwhile, and the
// session is there afterwards.
func TestRedisServerStoppedAndRestarted(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed (.ci/run installs it)")
		}
		t.Skip("redis-server is not installed")
	}
	dir := t.TempDir()
	port := freePort(t)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--appendonly", "yes", "--save", "", "--daemonize", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	server := start()
	t.Cleanup(func() { server.Process.Kill(); server.Wait() })

	spec := "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	m, err := Open(context.Background(), Options{Store: spec, Lifetime: time.Hour, StoreTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	waitPing(t, m)
	c := signIn(t, m, Login{Issuer: "https://restart.example", Subject: "alice", SID: "s1"})

	// A clean stop, as a service manager does: Redis writes its file.
	if err := server.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	server.Wait()
	wantStoreDown(t, m, c)

	server = start()
	waitPing(t, m)
	if !loggedIn(t, m, c) {
		t.Fatal("the session did not survive Redis's restart")
	}
	if n, err := m.EndSessions(context.Background(), "https://restart.example", "", "s1"); err != nil || n != 1 {
		t.Fatalf("the index did not survive Redis's restart: %d %v", n, err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// wantStoreDown checks that loading c's session and Ping fail with ErrStore.
func wantStoreDown(t *testing.T, m *Manager, c *http.Cookie) {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(c)
	if _, err := m.Load(req); !errors.Is(err, ErrStore) {
		t.Fatalf("Load with the store down: %v, want ErrStore", err)
	}
	if err := m.Ping(context.Background()); !errors.Is(err, ErrStore) {
		t.Fatalf("Ping with the store down: %v", err)
	}
}

func waitPing(t *testing.T, m *Manager) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for m.Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the store did not answer: %v", m.Ping(context.Background()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
