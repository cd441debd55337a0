package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where a run happened.
type Machine struct {
	CPU      string // model name
	Cores    int    // logical CPUs
	MemGiB   float64
	OS       string // GOOS/GOARCH and kernel
	Go       string // the toolchain that built rpbench (and rp, with go build)
	Commit   string // rp's commit, "+ changes" when the tree differs
	Versions []string
	// BusyBefore is the share of CPU time busy in the second before the
	// run (other processes); -1 when unknown.
	BusyBefore float64
}

func describeMachine(modRoot string) Machine {
	m := Machine{BusyBefore: -1, CPU: "unknown CPU", Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemGiB = kb / (1 << 20)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.OS += ", Linux " + strings.TrimSpace(string(b))
	}
	if modRoot != "" {
		if out, err := gitOut(modRoot, "rev-parse", "--short=12", "HEAD"); err == nil {
			m.Commit = out
			if st, err := gitOut(modRoot, "status", "--porcelain", "--untracked-files=no"); err == nil && st != "" {
				m.Commit += " + uncommitted changes"
			}
		}
	}
	return m
}

func gitOut(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// Short is a one-line description.
func (m Machine) Short() string {
	return fmt.Sprintf("%s, %d logical CPUs, %.1f GiB, %s, %s", m.CPU, m.Cores, m.MemGiB, m.OS, m.Go)
}

// AddVersion records the version of a component of the run (a store
// server, a competitor).
func (m *Machine) AddVersion(s string) {
	for _, v := range m.Versions {
		if v == s {
			return
		}
	}
	m.Versions = append(m.Versions, s)
}
