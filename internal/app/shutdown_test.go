//go:build unix

package app_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/app"
	"github.com/rp-project/rp/internal/config"
	"github.com/rp-project/rp/internal/testprovider"
)

// slowApp is the app behind rp: / answers at once; /slow/header answers
// when the test releases it; /slow/body sends half of its body at once and
// the rest when released.
type slowApp struct {
	*httptest.Server
	arrived chan string
	release chan struct{}
}

// slowBody is what a slow request must receive whole: 1 MiB.
var slowBody = bytes.Repeat([]byte("0123456789abcdef"), 64<<10)

func newSlowApp(t *testing.T) *slowApp {
	a := &slowApp{arrived: make(chan string, 4), release: make(chan struct{})}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wait := func() {
			select {
			case <-a.release:
			case <-time.After(20 * time.Second):
			}
		}
		switch r.URL.Path {
		case "/slow/header":
			a.arrived <- r.URL.Path
			wait()
			w.Write(slowBody)
		case "/slow/body":
			half := len(slowBody) / 2
			w.Write(slowBody[:half])
			http.NewResponseController(w).Flush()
			a.arrived <- r.URL.Path
			wait()
			w.Write(slowBody[half:])
		default:
			io.WriteString(w, "app page")
		}
	}))
	t.Cleanup(a.Close)
	return a
}

// freeAddr is a loopback address nothing listens on, for rp to listen on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// storeHeld reports whether an rp holds the SQLite store at path open: it
// locks path.rp-lock for as long as the store is open.
func storeHeld(t *testing.T, path string) bool {
	f, err := os.OpenFile(path+".rp-lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// signIn signs a new browser in to the rp at base, and returns it.
func signIn(t *testing.T, base string) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	resp, err := c.Get(base + "/login?return_to=/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "app page" {
		t.Fatalf("sign-in ended with %d %q, want the app's page", resp.StatusCode, b)
	}
	return c
}

type fetched struct {
	path   string
	status int
	body   []byte
	err    error
	close  bool // the response said Connection: close
}

func fetch(c *http.Client, url string) fetched {
	resp, err := c.Get(url)
	if err != nil {
		return fetched{path: url, err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return fetched{path: url, status: resp.StatusCode, body: b, err: err, close: resp.Close}
}

// readyz asks /readyz on a connection of its own.
func readyz(base string) (int, string, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(base + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestShutdownDrainsRequestsInFlight runs rp (app.Run, as cmd/rp does) in
// proxy mode with a SQLite store, and ends its context while two proxied
// requests wait for a slow app: one for the app's answer, one in the
// middle of its body. /readyz must turn 503 at once while new connections
// are still accepted, the listener must then close, both requests must
// complete whole, Run must return nil and the store must be closed.
func TestShutdownDrainsRequestsInFlight(t *testing.T) {
	op := testprovider.New(t)
	up := newSlowApp(t)
	addr := freeAddr(t)
	base := "http://" + addr
	db := filepath.Join(t.TempDir(), "sessions.db")
	env := map[string]string{
		"RP_ISSUER": op.Issuer, "RP_CLIENT_ID": op.ClientID, "RP_CLIENT_SECRET": op.ClientSecret,
		"RP_BASE_URL": base, "RP_ADDR": addr, "RP_SESSION_STORE": "sqlite:" + db, "RP_UPSTREAM": up.URL,
		// Run accepts new connections for half of it (2s), then drains.
		"RP_SHUTDOWN_TIMEOUT": "4s",
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(&logs, t.Output()), nil))
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	stopped := make(chan struct{})
	go func() { runErr = app.Run(ctx, cfg, logger); close(stopped) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Error("rp did not stop")
		}
	})

	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if status, _, _ := readyz(base); status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rp not ready within 10s")
		}
	}
	if !storeHeld(t, db) {
		t.Fatal("the store is not open while rp runs (is the lock test wrong?)")
	}
	browser := signIn(t, base)

	done := make(chan fetched, 2)
	for _, p := range []string{"/slow/header", "/slow/body"} {
		go func() { done <- fetch(browser, base+p) }()
	}
	for range 2 {
		select {
		case <-up.arrived:
		case r := <-done:
			t.Fatalf("%s ended before the app answered: %d %v", r.path, r.status, r.err)
		case <-time.After(10 * time.Second):
			t.Fatal("the slow requests did not reach the app")
		}
	}

	cancel() // SIGTERM, for cmd/rp
	shutdown := time.Now()

	// At once, /readyz says 503 on new connections.
	for {
		status, body, err := readyz(base)
		if err != nil {
			t.Fatalf("/readyz refused while rp should still accept connections (%v after the signal): %v",
				time.Since(shutdown), err)
		}
		if status == http.StatusServiceUnavailable {
			if !strings.Contains(body, `"shutdown":"draining"`) {
				t.Errorf("/readyz while draining: %s", body)
			}
			break
		}
		if time.Since(shutdown) > time.Second {
			t.Fatalf("/readyz still %d %s a second after the signal", status, body)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// After the grace, rp stops accepting connections; the slow requests
	// are still waiting for the app.
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Logf("listener closed %v after the signal", time.Since(shutdown).Round(time.Millisecond))
			break
		}
		c.Close()
		if time.Since(shutdown) > 3*time.Second {
			t.Fatal("rp still accepts connections 3s after the signal (grace 2s)")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("%s ended before the app answered: %d %v", r.path, r.status, r.err)
	default:
	}

	close(up.release)
	for range 2 {
		select {
		case r := <-done:
			if r.err != nil || r.status != http.StatusOK || !bytes.Equal(r.body, slowBody) {
				t.Errorf("%s cut by the shutdown: status %d, %d of %d bytes, %v", r.path, r.status, len(r.body), len(slowBody), r.err)
			}
			if strings.HasSuffix(r.path, "/slow/header") && !r.close {
				// (/slow/body's header was sent before the shutdown.)
				t.Errorf("%s: answered without Connection: close while draining", r.path)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the slow requests did not complete")
		}
	}
	select {
	case <-stopped:
		if runErr != nil {
			t.Fatalf("Run returned %v, want nil", runErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if took := time.Since(shutdown); took > 4*time.Second {
		t.Errorf("the shutdown took %v, more than RP_SHUTDOWN_TIMEOUT", took)
	}
	if storeHeld(t, db) {
		t.Error("the store is still open after Run returned")
	}
	if l := logs.String(); !strings.Contains(l, "requests drained") || strings.Contains(l, "RP_SHUTDOWN_TIMEOUT ran out") {
		t.Errorf("the log does not say the requests drained:\n%s", l)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("rp still listens after Run returned")
	}
}

// TestShutdownTimeoutCutsWhatIsLeft: a request that outlasts
// RP_SHUTDOWN_TIMEOUT is cut when it runs out, with a warning, and Run
// still returns nil (rp stopped as asked).
func TestShutdownTimeoutCutsWhatIsLeft(t *testing.T) {
	op := testprovider.New(t)
	up := newSlowApp(t)
	defer close(up.release)
	addr := freeAddr(t)
	base := "http://" + addr
	env := map[string]string{
		"RP_ISSUER": op.Issuer, "RP_CLIENT_ID": op.ClientID, "RP_CLIENT_SECRET": op.ClientSecret,
		"RP_BASE_URL": base, "RP_ADDR": addr, "RP_SESSION_STORE": "memory", "RP_UPSTREAM": up.URL,
		"RP_SHUTDOWN_TIMEOUT": "1s",
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(&logs, t.Output()), nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- app.Run(ctx, cfg, logger) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if status, _, _ := readyz(base); status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rp not ready within 10s")
		}
	}
	browser := signIn(t, base)
	done := make(chan fetched, 1)
	go func() { done <- fetch(browser, base+"/slow/body") }()
	<-up.arrived
	cancel()
	shutdown := time.Now()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after RP_SHUTDOWN_TIMEOUT")
	}
	if took := time.Since(shutdown); took < time.Second || took > 3*time.Second {
		t.Errorf("the shutdown took %v, want RP_SHUTDOWN_TIMEOUT (1s)", took)
	}
	r := <-done
	if r.err == nil && bytes.Equal(r.body, slowBody) {
		t.Error("the request that outlasted the timeout was not cut")
	}
	if l := logs.String(); !strings.Contains(l, "RP_SHUTDOWN_TIMEOUT ran out") || !strings.Contains(l, "cut=1") {
		t.Errorf("no warning about the cut request:\n%s", l)
	}
}

// TestShutdownStopsDiscoveryRetries: with the provider down, rp retries
// discovery in the background; once Run has returned it asks no more.
func TestShutdownStopsDiscoveryRetries(t *testing.T) {
	op := testprovider.New(t)
	op.Set(func(k *testprovider.Knobs) { k.Down = true })
	addr := freeAddr(t)
	env := map[string]string{
		"RP_ISSUER": op.Issuer, "RP_CLIENT_ID": op.ClientID, "RP_CLIENT_SECRET": op.ClientSecret,
		"RP_BASE_URL": "http://" + addr, "RP_ADDR": addr, "RP_SESSION_STORE": "memory",
		"RP_SHUTDOWN_TIMEOUT": "200ms",
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- app.Run(ctx, cfg, slog.New(slog.NewTextHandler(t.Output(), nil))) }()
	for deadline := time.Now().Add(5 * time.Second); op.Count("discovery") < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("rp does not retry discovery")
		}
	}
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	n := op.Count("discovery")
	// The next retry was due within 1.25s of the second attempt.
	time.Sleep(2 * time.Second)
	if m := op.Count("discovery"); m != n {
		t.Errorf("discovery asked %d more times after Run returned", m-n)
	}
}
