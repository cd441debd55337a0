package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is a server under test (or the upstream) running as its own process,
// its output in a log file.
type Proc struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// Spawn starts path with args and env (the whole environment), its stdout
// and stderr written to logDir/name.log.
func Spawn(logDir, name, path string, args, env []string) (*Proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop ends the process: SIGTERM, then SIGKILL after 5 seconds.
func (p *Proc) Stop() {
	if ok, _ := p.Exited(); ok {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// LogTail is the end of the process's output, for error messages.
func (p *Proc) LogTail(lines int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// WaitReady polls url until it answers want, the process exits, or 30
// seconds pass.
func (p *Proc) WaitReady(ctx context.Context, url string, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	var last string
	for {
		if ok, err := p.Exited(); ok {
			return fmt.Errorf("%s exited (%v) before it was ready; its log ends with:\n%s", p.Name, err, indent(p.LogTail(15)))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		r, err := client.Do(req)
		if err == nil {
			r.Body.Close()
			if r.StatusCode == want {
				return nil
			}
			last = fmt.Sprintf("status %d", r.StatusCode)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s after 30s (%s); its log ends with:\n%s", p.Name, url, last, indent(p.LogTail(15)))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// CPUTime is the process's user and system CPU time so far (all its
// threads), from /proc; 0 where there is no /proc.
func (p *Proc) CPUTime() time.Duration {
	return cpuTime(p.Pid())
}

// clockTick is USER_HZ, 100 on every Linux architecture Go supports
// (sysconf(_SC_CLK_TCK) without cgo).
const clockTick = 10 * time.Millisecond

func cpuTime(pid int) time.Duration { return procCPU(pid, false) }

// procCPU reads utime and stime (fields 14 and 15 of /proc/PID/stat) and,
// with children, cutime and cstime (16 and 17): the CPU time of the
// children it has waited for, such as PostgreSQL's ended backends.
func procCPU(pid int, children bool) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields are counted after
	// its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0
	}
	fields := f[11:13]
	if children {
		fields = f[11:15]
	}
	var sum int64
	for _, x := range fields {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0
		}
		sum += n
	}
	return time.Duration(sum) * clockTick
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// cleanEnv is the environment without RP_* settings and GODEBUG and
// GOMAXPROCS, which would change what is measured.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "RP_") || k == "GODEBUG" || k == "GOMAXPROCS" || k == "GOGC" || k == "GOMEMLIMIT" ||
			strings.HasPrefix(k, "OAUTH2_PROXY_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// machineBusy is the CPU time all CPUs have spent busy since boot (user,
// nice, system, irq, softirq, steal), from /proc/stat; 0 where there is none.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var sum int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		sum += n
	}
	return time.Duration(sum) * clockTick
}

// namedCPUTime is the CPU time of every process whose command name is one
// of names (a store server and its workers), with that of the ended
// children they waited for (PostgreSQL's backends that closed).
func namedCPUTime(names []string) time.Duration {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue
		}
		for _, n := range names {
			if strings.TrimSpace(string(comm)) == n {
				sum += procCPU(pid, true)
				break
			}
		}
	}
	return sum
}
