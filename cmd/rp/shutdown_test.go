//go:build unix

package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/testprovider"
)

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

// rpProcess is cmd/rp built and running as a process of its own.
type rpProcess struct {
	cmd    *exec.Cmd
	addr   string
	out    *lockedBuffer
	exited chan struct{}
}

// buildRP builds cmd/rp once for the test.
func buildRP(t *testing.T) string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command here to build cmd/rp")
	}
	bin := filepath.Join(t.TempDir(), "rp")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/rp: %v\n%s", err, out)
	}
	return bin
}

// startRP runs bin in proxy mode in front of upstream, with a SQLite store,
// and returns once its /readyz answers 200.
func startRP(t *testing.T, bin string, op *testprovider.Provider, upstream, shutdownTimeout string) *rpProcess {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &rpProcess{cmd: exec.Command(bin), addr: addr, out: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"RP_ISSUER=" + op.Issuer, "RP_CLIENT_ID=" + op.ClientID, "RP_CLIENT_SECRET=" + op.ClientSecret,
		"RP_BASE_URL=http://" + addr, "RP_ADDR=" + addr, "RP_UPSTREAM=" + upstream,
		"RP_SESSION_STORE=sqlite:" + filepath.Join(t.TempDir(), "sessions.db"),
		"RP_SHUTDOWN_TIMEOUT=" + shutdownTimeout,
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("rp's output:\n%s", p.out)
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if status, _, _ := p.readyz(); status == http.StatusOK {
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("rp exited: %v", p.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("rp not ready within 20s")
		}
	}
}

// readyz asks /readyz on a connection of its own.
func (p *rpProcess) readyz() (int, string, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + p.addr + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// waitDraining waits until /readyz answers 503 "draining".
func (p *rpProcess) waitDraining(t *testing.T) {
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		status, body, err := p.readyz()
		if err != nil {
			t.Fatalf("/readyz refused right after SIGTERM: %v", err)
		}
		if status == http.StatusServiceUnavailable && strings.Contains(body, `"shutdown":"draining"`) {
			return
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("/readyz still %d %s 2s after SIGTERM", status, body)
		}
	}
}

// TestSIGTERMDrainsAndExits0 runs the built rp in proxy mode and sends it
// SIGTERM while a proxied request waits for a slow app: /readyz turns 503,
// the app answers once rp has stopped accepting connections, the request
// completes whole and rp exits with status 0. A second signal ends rp at
// once.
func TestSIGTERMDrainsAndExits0(t *testing.T) {
	bin := buildRP(t)
	op := testprovider.New(t)
	// One request from this process first: rp's requests come from another
	// process, which gives the race detector no order between the
	// provider's setup and its handlers.
	if resp, err := http.Get(op.DiscoveryURL + "/.well-known/openid-configuration"); err == nil {
		resp.Body.Close()
	}
	body := bytes.Repeat([]byte("rp drains "), 100_000)
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			io.WriteString(w, "app page")
			return
		}
		arrived <- struct{}{}
		select {
		case <-release:
		case <-time.After(20 * time.Second):
		}
		w.Write(body)
	}))
	defer app.Close()

	t.Run("drains", func(t *testing.T) {
		// Accepting for 2.5s after SIGTERM, then draining until 5s.
		p := startRP(t, bin, op, app.URL, "5s")
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
		resp, err := browser.Get("http://" + p.addr + "/login?return_to=/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "app page" {
			t.Fatalf("sign-in ended with %d %q", resp.StatusCode, b)
		}
		type result struct {
			status int
			body   []byte
			err    error
		}
		done := make(chan result, 1)
		go func() {
			resp, err := browser.Get("http://" + p.addr + "/slow")
			if err != nil {
				done <- result{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			done <- result{resp.StatusCode, b, err}
		}()
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the slow request did not reach the app")
		}

		signalled := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		p.waitDraining(t)
		for {
			c, err := net.DialTimeout("tcp", p.addr, time.Second)
			if err != nil {
				break
			}
			c.Close()
			if time.Since(signalled) > 4*time.Second {
				t.Fatal("rp still accepts connections 4s after SIGTERM")
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("rp stopped accepting %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))
		close(release)

		select {
		case r := <-done:
			if r.err != nil || r.status != http.StatusOK || !bytes.Equal(r.body, body) {
				t.Errorf("the request in flight was cut: status %d, %d of %d bytes, %v", r.status, len(r.body), len(body), r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the request in flight did not complete")
		}
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Fatal("rp did not exit after SIGTERM")
		}
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("rp exited with status %d after SIGTERM, want 0", code)
		}
		if took := time.Since(signalled); took > 5*time.Second {
			t.Errorf("rp took %v to exit, more than RP_SHUTDOWN_TIMEOUT", took)
		}
		if out := p.out.String(); !strings.Contains(out, "requests drained") {
			t.Errorf("rp's log does not say the requests drained:\n%s", out)
		}
	})

	t.Run("second signal", func(t *testing.T) {
		p := startRP(t, bin, op, app.URL, "30s")
		signalled := time.Now()
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.waitDraining(t)
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(2 * time.Second):
			t.Fatal("rp is still running after a second SIGTERM")
		}
		var ws syscall.WaitStatus
		if st, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
			ws = st
		}
		if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("rp ended with %v, want killed by the second SIGTERM", p.cmd.ProcessState)
		}
		if took := time.Since(signalled); took >= 5*time.Second {
			t.Errorf("rp took %v, the whole grace", took)
		}
	})
}
