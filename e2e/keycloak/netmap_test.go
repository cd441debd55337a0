package keycloak

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const repoRoot = "../.."

// loadCompose loads docker-compose.yml with every profile enabled.
func loadCompose() (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{filepath.Join(repoRoot, "docker-compose.yml")},
		cli.WithWorkingDirectory(repoRoot), cli.WithProfiles([]string{"*"}))
	if err != nil {
		return nil, fmt.Errorf("compose options: %w", err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		return nil, fmt.Errorf("loading docker-compose.yml: %w", err)
	}
	return p, nil
}

// netmap maps compose's addresses to loopback, as Docker's network and
// published ports would route them: service:port inside the compose
// network, and localhost:published from the host, both reach one free
// loopback port per service port.
type netmap struct {
	project *types.Project
	mu      sync.Mutex
	ports   map[string]int // "service:containerPort" → loopback port
	re      *regexp.Regexp
}

func newNetmap(p *types.Project) *netmap {
	names := slices.Collect(func(yield func(string) bool) {
		for name := range p.Services {
			if !yield(regexp.QuoteMeta(name)) {
				return
			}
		}
	})
	// Longest first: rp-lb before rp.
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	re := regexp.MustCompile(`(^|[/@\s"'=,;(])(localhost|` + strings.Join(names, "|") + `):(\d+)\b`)
	return &netmap{project: p, ports: map[string]int{}, re: re}
}

// Port is the loopback port standing for service's containerPort.
func (n *netmap) Port(service string, containerPort int) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	key := service + ":" + strconv.Itoa(containerPort)
	if p, ok := n.ports[key]; ok {
		return p
	}
	p := freePort()
	n.ports[key] = p
	return p
}

// published finds the service and container port behind host port pub.
func (n *netmap) published(pub int) (service string, target int, ok bool) {
	for name, svc := range n.project.Services {
		for _, pc := range svc.Ports {
			if pc.Published == strconv.Itoa(pub) {
				return name, int(pc.Target), true
			}
		}
	}
	return "", 0, false
}

// Rewrite maps every service:port and localhost:published in s to its
// loopback address: 127.0.0.1:P for a service name, localhost:P for a
// published port (the host name browsers use, and cookies belong to). A
// localhost port that no service publishes is left alone, so a URL that
// points nowhere in compose points nowhere here either.
func (n *netmap) Rewrite(s string) string {
	return n.re.ReplaceAllStringFunc(s, func(m string) string {
		sub := n.re.FindStringSubmatch(m)
		lead, host, port := sub[1], sub[2], sub[3]
		num, _ := strconv.Atoi(port)
		if host == "localhost" {
			svc, target, ok := n.published(num)
			if !ok {
				return m
			}
			return lead + "localhost:" + strconv.Itoa(n.Port(svc, target))
		}
		return lead + "127.0.0.1:" + strconv.Itoa(n.Port(host, num))
	})
}

// freePort is a loopback port nobody listens on now, below the kernel's
// range of ephemeral ports: a port reserved here is used much later (the
// realm file names it when Keycloak starts, the service listens on it when
// its test runs), and an outgoing connection's local port, taken from that
// range, must not occupy it in between.
func freePort() int {
	low := 32768
	if raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(raw)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const floor = 10000
	for range 100 {
		if low <= floor {
			break
		}
		port := floor + rand.IntN(low-floor)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("no free loopback port: %v", err))
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
