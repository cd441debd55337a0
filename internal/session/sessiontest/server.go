//go:build linux

package sessiontest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// serverWait bounds a store server's start (Redis loading its append-only
// file, PostgreSQL's recovery) and its stop. Generous: it is there so that
// a broken server fails the test instead of hanging it.
const serverWait = 60 * time.Second

// Server is a Redis or PostgreSQL server of a test's own, on a loopback
// port and in a temporary directory, that the test can stop and start
// again without disturbing the machine's shared servers. It is stopped and
// its directory removed when the test ends.
//
// The server runs as a child of the test process and gets SIGKILL
// (Redis) or SIGQUIT (PostgreSQL's immediate shutdown) if the test process
// dies first, so a test killed by go test's -timeout leaves no server
// behind.
type Server struct {
	// Spec is the RP_SESSION_STORE value that reaches the server.
	Spec string
	// Addr is the server's host:port.
	Addr string

	tb      testing.TB
	name    string
	bin     string
	args    []string
	stopSig syscall.Signal // a clean stop: its data is on disk when the process exits
	dieSig  syscall.Signal // sent by the kernel if the test process dies
	cred    *syscall.Credential
	ready   func(context.Context) error
	out     *syncBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// StartRedis starts redis-server as docker-compose.yml's redis service
// runs it: an append-only file (--appendonly yes) and noeviction. Like
// compose, it keeps Redis's default --appendfsync everysec, so the test
// runs what deployments run: Redis writes the file before it answers a
// write, and a clean stop (SIGTERM, as Stop sends) also fsyncs it, so a
// restart loses no acknowledged write. Only a crash of the machine could
// lose the last second of writes, which "always" would prevent at the
// cost of an fsync per write; a restart does not need it. RDB snapshots
// are off (--save ""): the append-only file alone brings the sessions
// back.
//
// Without redis-server the test is skipped, or fails under CI=true.
func StartRedis(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(tb, "redis-server", err)
	}
	dir := serverDir(tb, nil)
	port := freePort(tb)
	s := &Server{
		Spec: fmt.Sprintf("redis://127.0.0.1:%d/0", port),
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		tb:   tb, name: "redis-server", bin: bin,
		args: []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
			"--maxmemory-policy", "noeviction", "--daemonize", "no", "--logfile", ""},
		stopSig: syscall.SIGTERM,
		dieSig:  syscall.SIGKILL,
		out:     &syncBuffer{},
	}
	s.ready = func(ctx context.Context) error {
		c := redis.NewClient(&redis.Options{Addr: s.Addr, DisableIdentity: true, MaxRetries: -1, DialerRetries: 1})
		defer c.Close()
		// PING answers an error (LOADING) while the append-only file is
		// read: ready means PONG.
		return c.Ping(ctx).Err()
	}
	tb.Cleanup(s.cleanup)
	s.Start()
	return s
}

// StartPostgres creates a cluster with initdb in a temporary directory
// (trust authentication, the superuser postgres) and runs postgres on a
// loopback port, with its socket in that directory. As root, initdb and
// postgres refuse to run: they run as the postgres OS user, which then
// owns the directory. Stop is a fast shutdown (SIGINT, as pg_ctl stop -m
// fast sends): sessions rolled back, a checkpoint written.
//
// Without PostgreSQL's server binaries (or, as root, without the postgres
// user) the test is skipped, or fails under CI=true.
func StartPostgres(tb testing.TB) *Server {
	tb.Helper()
	bindir, err := postgresBinDir()
	if err != nil {
		unavailable(tb, "PostgreSQL's initdb and postgres", err)
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable(tb, "the postgres OS user (initdb refuses to run as root)", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir := serverDir(tb, cred)
	data := filepath.Join(dir, "data")
	// --no-sync: initdb's final fsync of a throwaway cluster buys nothing
	// and costs seconds on a busy disk; the server itself keeps fsync on.
	initdb := exec.Command(filepath.Join(bindir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freePort(tb)
	s := &Server{
		Spec: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		tb:   tb, name: "postgres", bin: filepath.Join(bindir, "postgres"),
		args: []string{"-D", data, "-p", strconv.Itoa(port), "-k", dir,
			"-c", "listen_addresses=127.0.0.1"},
		stopSig: syscall.SIGINT,
		dieSig:  syscall.SIGQUIT,
		cred:    cred,
		out:     &syncBuffer{},
	}
	s.ready = func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, s.Spec)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		return c.Ping(ctx)
	}
	tb.Cleanup(s.cleanup)
	s.Start()
	return s
}

// Start starts the server on its port and directory and returns once it
// answers (Redis: PONG after loading its append-only file; PostgreSQL: a
// connection). The first start happens in StartRedis or StartPostgres.
func (s *Server) Start() {
	s.tb.Helper()
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		s.tb.Fatalf("%s: Start while it runs", s.name)
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: s.dieSig}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		s.tb.Fatalf("starting %s: %v", s.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(serverWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := s.ready(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-done:
			s.tb.Fatalf("%s exited while starting (%v); its output:\n%s", s.name, cmd.ProcessState, s.out)
		default:
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("%s did not answer within %s: %v; its output:\n%s", s.name, serverWait, err, s.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server cleanly and returns once its process has exited:
// its port is free and its data on disk.
func (s *Server) Stop() {
	s.tb.Helper()
	if err := s.stop(serverWait); err != nil {
		s.tb.Fatal(err)
	}
}

// Output is what the server has written to stdout and stderr so far.
func (s *Server) Output() string { return s.out.String() }

func (s *Server) stop(wait time.Duration) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("%s: Stop while it is stopped", s.name)
	}
	if err := cmd.Process.Signal(s.stopSig); err != nil {
		return fmt.Errorf("stopping %s: %w", s.name, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not stop within %s; killed; its output:\n%s", s.name, wait, s.out)
	}
}

func (s *Server) cleanup() {
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		if err := s.stop(10 * time.Second); err != nil {
			s.tb.Error(err)
		}
	}
	if s.tb.Failed() {
		s.tb.Logf("%s's output:\n%s", s.name, s.out)
	}
}

// serverDir makes a temporary directory for a server's data, owned by
// cred's user when given (t.TempDir's parents are private to root), and
// removed when the test ends.
func serverDir(tb testing.TB, cred *syscall.Credential) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "rp-store-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			tb.Errorf("removing %s: %v", dir, err)
		}
	})
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// freePort returns a free loopback port below the kernel's range of
// ephemeral ports: a server restarted on it finds it free again, as no
// outgoing connection (and no test server on port 0) is given a port there
// meanwhile.
func freePort(tb testing.TB) int {
	tb.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const first = 10000
	for range 100 {
		if low <= first+100 {
			break
		}
		p := first + rand.IntN(low-first)
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
			ln.Close()
			return p
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// postgresBinDir finds the directory holding initdb and postgres: Debian's
// /usr/lib/postgresql/VERSION/bin (the newest), else initdb's directory on
// PATH, else pg_config --bindir.
func postgresBinDir() (string, error) {
	var dirs []string
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(found, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	dirs = append(dirs, found...)
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	for _, d := range dirs {
		if executable(filepath.Join(d, "initdb")) && executable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("no directory with initdb and postgres among %q", dirs)
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// syncBuffer is a bytes.Buffer safe for the server's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
