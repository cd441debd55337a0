package deploy

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/rp-project/rp/internal/nginxconf"
)

// writeTimeout is rp's HTTP write timeout for cfg's provider timeout, as
// internal/app sets it: a balancer in front of rp must wait longer, or it
// answers a slow sign-in with its own 504 instead of rp's error page.
func writeTimeout(providerTimeout time.Duration) time.Duration {
	return 3*providerTimeout + 30*time.Second
}

// TestHA checks profile ha: rp-a and rp-b sharing sessions through redis,
// behind rp-lb.
func TestHA(t *testing.T) {
	runChecks(t, []check{
		{"the default profile starts only keycloak and rp", func(s *stack) error {
			got, want := s.base.ServiceNames(), slices.Sorted(slices.Values(defaultServices))
			if !slices.Equal(got, want) {
				return fmt.Errorf("`docker compose up` starts %q, want %q", got, want)
			}
			for _, name := range got {
				if p := s.base.Services[name].Profiles; len(p) > 0 {
					return fmt.Errorf("service %s has profiles %q, want none", name, p)
				}
			}
			return nil
		}},
		{"profile ha adds redis, rp-a, rp-b and rp-lb, in profile ha only", func(s *stack) error {
			return profileAdds(s, haProfile, haServices)
		}},

		// rp-a and rp-b
		{"rp-a and rp-b differ in nothing but their name", func(s *stack) error {
			first := s.project.Services[haInstances[0]]
			first.Name = ""
			for _, name := range haInstances[1:] {
				other := s.project.Services[name]
				other.Name = ""
				if !reflect.DeepEqual(first, other) {
					return fmt.Errorf("%s and %s are configured differently: instances of one deployment must not be", haInstances[0], name)
				}
			}
			return nil
		}},
		{"rp-a and rp-b share one Redis store in service redis", func(s *stack) error {
			var stores []string
			for _, name := range haInstances {
				r := s.rpByName(name)
				store := r.env["RP_SESSION_STORE"]
				u, err := url.Parse(store)
				if err != nil || u.Scheme != "redis" || u.Hostname() != redisService {
					return fmt.Errorf("service %s: RP_SESSION_STORE=%q, want redis://%s:%s/DB", name, store, redisService, redisDefaultPort)
				}
				stores = append(stores, store)
			}
			if len(slices.Compact(slices.Clone(stores))) != 1 {
				return fmt.Errorf("RP_SESSION_STORE differs: %q", stores)
			}
			return nil
		}},
		{"rp-a and rp-b use one client of their own", func(s *stack) error {
			var ids []string
			for _, name := range haInstances {
				ids = append(ids, s.rpByName(name).env["RP_CLIENT_ID"])
			}
			if len(slices.Compact(slices.Clone(ids))) != 1 {
				return fmt.Errorf("RP_CLIENT_ID differs: %q", ids)
			}
			if ids[0] == s.rp.env["RP_CLIENT_ID"] {
				return fmt.Errorf("RP_CLIENT_ID=%q is also %s's: their redirect URIs and back-channel logout URLs differ", ids[0], rpService)
			}
			return nil
		}},
		{"rp-a and rp-b publish no port", func(s *stack) error {
			for _, name := range haInstances {
				if p := s.project.Services[name].Ports; len(p) > 0 {
					return fmt.Errorf("service %s publishes %v: browsers and Keycloak come in through %s", name, p, lbService)
				}
			}
			return nil
		}},

		// redis
		{"redis image is the official one, a pinned 7.x or newer", func(s *stack) error {
			img := s.project.Services[redisService].Image
			repo, tag, _ := splitImage(img)
			if repo != "redis" && repo != "docker.io/library/redis" {
				return fmt.Errorf("image %q: want the official redis", img)
			}
			m := regexp.MustCompile(`^(\d+)\.(\d+)(\.\d+)?(-[a-z0-9.]+)?$`).FindStringSubmatch(tag)
			if m == nil {
				return fmt.Errorf("image %q: want a tag pinned to a minor version, e.g. redis:7.4-alpine", img)
			}
			if major, _ := strconv.Atoi(m[1]); major < 7 {
				return fmt.Errorf("image %q: rp needs Redis 7.0 or newer (PEXPIREAT NX/GT)", img)
			}
			return nil
		}},
		{"redis keeps an append-only file in a named volume", func(s *stack) error {
			svc := s.project.Services[redisService]
			if v := argAfter(svc.Command, "--appendonly"); v != "yes" {
				return fmt.Errorf("command %q: want --appendonly yes (sessions survive a Redis restart)", svc.Command)
			}
			dir := redisDefaultDir
			if d := argAfter(svc.Command, "--dir"); d != "" {
				dir = d
			}
			if namedVolumeAt(s.project, svc, dir) == "" {
				return fmt.Errorf("no named volume (declared at the top level) at %s", dir)
			}
			return nil
		}},
		{"redis never evicts keys", func(s *stack) error {
			svc := s.project.Services[redisService]
			// rp keeps the single-use claims of logout tokens there: an
			// evicted one would let a token be replayed.
			if v := argAfter(svc.Command, "--maxmemory-policy"); v != "noeviction" {
				return fmt.Errorf("command %q: want --maxmemory-policy noeviction", svc.Command)
			}
			return nil
		}},
		{"redis health check asks redis-cli ping", func(s *stack) error {
			hc := s.project.Services[redisService].HealthCheck
			if hc == nil || hc.Disable || len(hc.Test) == 0 {
				return errors.New("redis has no health check (rp-a and rp-b wait for it)")
			}
			if cmd := strings.Join(hc.Test, " "); !strings.Contains(cmd, "redis-cli") || !strings.Contains(cmd, "ping") {
				return fmt.Errorf("health check %q: want redis-cli ping", cmd)
			}
			if hc.Retries == nil || hc.Interval == nil {
				return errors.New("health check: set interval and retries")
			}
			return nil
		}},
		{"redis publishes no port and restarts unless stopped", func(s *stack) error {
			svc := s.project.Services[redisService]
			if len(svc.Ports) > 0 {
				return fmt.Errorf("publishes %v: only rp-a and rp-b need it, inside the compose network", svc.Ports)
			}
			if svc.Restart != types.RestartPolicyUnlessStopped {
				return fmt.Errorf("restart: %q", svc.Restart)
			}
			return nil
		}},

		// rp-lb
		{"rp-lb image is the official nginx, pinned", lbCheck(func(s *stack, b *balancer) error {
			repo, tag, _ := splitImage(b.svc.Image)
			if repo != "nginx" && repo != "docker.io/library/nginx" {
				return fmt.Errorf("image %q: want the official nginx", b.svc.Image)
			}
			if !regexp.MustCompile(`^1\.\d+(\.\d+)?(-[a-z0-9.]+)?$`).MatchString(tag) {
				return fmt.Errorf("image %q: want a tag pinned to a minor version, e.g. nginx:1.28-alpine", b.svc.Image)
			}
			return nil
		})},
		{"rp-lb mounts its nginx.conf read-only", lbCheck(func(s *stack, b *balancer) error {
			if !b.mount.ReadOnly {
				return fmt.Errorf("%s is mounted read-write", nginxConfTarget)
			}
			return nil
		})},
		{"rp-lb publishes the port nginx listens on", lbCheck(func(s *stack, b *balancer) error {
			if len(b.svc.Ports) != 1 || int(b.svc.Ports[0].Target) != b.listen {
				return fmt.Errorf("ports %v, want one, to container port %d (nginx's listen)", b.svc.Ports, b.listen)
			}
			// Its host port is RP_BASE_URL's: see TestCompose.
			return nil
		})},
		{"rp-lb balances over exactly rp-a and rp-b on RP_ADDR's port", lbCheck(func(s *stack, b *balancer) error {
			var got, want []string
			for _, u := range b.servers {
				got = append(got, net.JoinHostPort(u.host, u.port))
			}
			for _, name := range haInstances {
				_, port, err := net.SplitHostPort(s.rpByName(name).cfg.Addr)
				if err != nil {
					return fmt.Errorf("service %s: RP_ADDR: %v", name, err)
				}
				want = append(want, net.JoinHostPort(name, port))
			}
			if !slices.Equal(slices.Sorted(slices.Values(got)), want) {
				return fmt.Errorf("upstream %s has servers %q, want exactly %q", b.upstream.Args[0], got, want)
			}
			return nil
		})},
		{"rp-lb balances round robin, without sticky sessions", lbCheck(func(s *stack, b *balancer) error {
			// Round robin is nginx's default: any method, hash or cookie
			// would hide sessions that are not shared.
			for _, d := range []string{"ip_hash", "hash", "sticky", "least_conn", "least_time", "random", "ntlm"} {
				if len(b.upstream.All(d)) > 0 {
					return fmt.Errorf("upstream %s has %s; want plain round robin", b.upstream.Args[0], d)
				}
			}
			for _, u := range b.servers {
				for _, p := range u.params {
					if p == "backup" || p == "down" || strings.HasPrefix(p, "weight=") {
						return fmt.Errorf("server %s:%s %s: want every instance served alike", u.host, u.port, p)
					}
				}
			}
			return nil
		})},
		{"rp-lb fails over passively", lbCheck(func(s *stack, b *balancer) error {
			for _, u := range b.servers {
				if !slices.ContainsFunc(u.params, func(p string) bool {
					n, ok := strings.CutPrefix(p, "max_fails=")
					return ok && n != "0"
				}) {
					return fmt.Errorf("server %s:%s: want max_fails=N (N > 0)", u.host, u.port)
				}
			}
			next := b.location.Inherited("proxy_next_upstream")
			if len(next) != 1 || !slices.Contains(next[0].Args, "error") || !slices.Contains(next[0].Args, "timeout") {
				return errors.New("want proxy_next_upstream error timeout")
			}
			// A POST that reached one instance must not reach the other:
			// the second back-channel delivery of a logout token would be
			// refused as a replay.
			if slices.Contains(next[0].Args, "non_idempotent") {
				return errors.New("proxy_next_upstream non_idempotent sends POSTs twice")
			}
			return nil
		})},
		{"rp-lb passes Host, X-Forwarded-For and X-Forwarded-Proto", lbCheck(func(s *stack, b *balancer) error {
			set := map[string]string{}
			for _, d := range b.location.Inherited("proxy_set_header") {
				if len(d.Args) == 2 {
					set[strings.ToLower(d.Args[0])] = d.Args[1]
				}
			}
			want := map[string]string{
				"host":              "$http_host",
				"x-forwarded-for":   "$proxy_add_x_forwarded_for",
				"x-forwarded-proto": "$scheme",
			}
			for h, v := range want {
				if set[h] != v {
					return fmt.Errorf("proxy_set_header %s %q, want %q", h, set[h], v)
				}
			}
			return nil
		})},
		{"rp-lb waits longer than rp's write timeout", lbCheck(func(s *stack, b *balancer) error {
			for _, name := range []string{"proxy_read_timeout", "proxy_send_timeout"} {
				got := 60 * time.Second // nginx's default
				if d := b.location.Inherited(name); len(d) > 0 && len(d[0].Args) == 1 {
					var err error
					if got, err = nginxconf.Duration(d[0].Args[0]); err != nil {
						return fmt.Errorf("%s: %v", name, err)
					}
				}
				for _, inst := range haInstances {
					r := s.rpByName(inst)
					if wt := writeTimeout(r.cfg.ProviderTimeout); got <= wt {
						return fmt.Errorf("%s %s, but %s may take %s to answer (3 * RP_PROVIDER_TIMEOUT + 30s)", name, got, inst, wt)
					}
				}
			}
			return nil
		})},
		{"rp-lb proxies every path to the upstream", lbCheck(func(s *stack, b *balancer) error {
			// /callback, /backchannel-logout and the rest: no location may
			// take a path elsewhere.
			if locs := b.server.All("location"); len(locs) != 1 {
				return fmt.Errorf("%d locations, want location / only", len(locs))
			}
			return nil
		})},
		{"rp-lb's resolve has a zone and a resolver", lbCheck(func(s *stack, b *balancer) error {
			if !slices.ContainsFunc(b.servers, func(u upstreamServer) bool { return slices.Contains(u.params, "resolve") }) {
				return nil
			}
			if len(b.upstream.All("zone")) == 0 {
				return fmt.Errorf("upstream %s: resolve needs a zone", b.upstream.Args[0])
			}
			if len(b.upstream.Inherited("resolver")) == 0 {
				return errors.New("resolve needs a resolver (Docker's is 127.0.0.11)")
			}
			// Open source nginx has resolve since 1.27.3.
			_, tag, _ := splitImage(b.svc.Image)
			v := strings.SplitN(tag, "-", 2)[0]
			// A bare 1.27 tag may be 1.27.0.
			if compareVersions(v, "1.27.3") < 0 || (len(strings.Split(v, ".")) == 2 && compareVersions(v, "1.28") < 0) {
				return fmt.Errorf("image %q: upstream servers with resolve need nginx 1.27.3 or newer", b.svc.Image)
			}
			return nil
		})},
		{"rp-lb waits for rp-a and rp-b to be healthy", lbCheck(func(s *stack, b *balancer) error {
			for _, u := range b.servers {
				if dep, ok := b.svc.DependsOn[u.host]; !ok || dep.Condition != types.ServiceConditionHealthy {
					return fmt.Errorf("depends_on: %+v, want %s: condition: service_healthy", b.svc.DependsOn, u.host)
				}
				if !sharesNetwork(b.svc, s.project.Services[u.host]) {
					return fmt.Errorf("no network in common with %s", u.host)
				}
			}
			return nil
		})},
		{"rp-lb restarts unless stopped", lbCheck(func(s *stack, b *balancer) error {
			if b.svc.Restart != types.RestartPolicyUnlessStopped {
				return fmt.Errorf("restart: %q", b.svc.Restart)
			}
			return nil
		})},
	})
}

// TestRedisHealthCheckScript runs the compose health check of redis against
// stand-ins for Redis: healthy means PONG, not just an answer.
func TestRedisHealthCheckScript(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh here")
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("no redis-cli here")
	}
	s := loadStack(t)
	hc := s.project.Services[redisService].HealthCheck
	if hc == nil || len(hc.Test) == 0 {
		t.Fatal("redis has no health check")
	}
	// As the container would run it, pointed at the stand-in's port.
	run := func(port int) error {
		withPort := "redis-cli -p " + strconv.Itoa(port)
		var cmd *exec.Cmd
		switch hc.Test[0] {
		case "CMD-SHELL":
			if len(hc.Test) != 2 {
				t.Fatalf("health check %q: want [CMD-SHELL SCRIPT]", hc.Test)
			}
			cmd = exec.Command(sh, "-c", strings.ReplaceAll(hc.Test[1], "redis-cli", withPort))
		case "CMD":
			argv := slices.Clone(hc.Test[1:])
			if len(argv) == 0 || argv[0] != "redis-cli" {
				t.Fatalf("health check %q: want [CMD redis-cli ...]", hc.Test)
			}
			argv = append([]string{"redis-cli", "-p", strconv.Itoa(port)}, argv[1:]...)
			cmd = exec.Command(argv[0], argv[1:]...)
		default:
			t.Fatalf("health check %q: want CMD or CMD-SHELL", hc.Test)
		}
		cmd.WaitDelay = 5 * time.Second
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}

	tests := []struct {
		name    string
		reply   string // RESP
		healthy bool
	}{
		{"ready", "+PONG\r\n", true},
		{"loading the append-only file", "-LOADING Redis is loading the dataset in memory\r\n", false},
		{"password required", "-NOAUTH Authentication required.\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			asked := make(chan string, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				// One RESP array of bulk strings: the command.
				br := bufio.NewReader(c)
				var words []string
				head, _ := br.ReadString('\n')
				n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "*")))
				for range n {
					br.ReadString('\n') // $len
					w, _ := br.ReadString('\n')
					words = append(words, strings.TrimSpace(w))
				}
				asked <- strings.ToLower(strings.Join(words, " "))
				c.Write([]byte(tt.reply))
				c.Read(make([]byte, 1)) // until redis-cli closes
			}()
			err = run(l.Addr().(*net.TCPAddr).Port)
			select {
			case cmd := <-asked:
				if cmd != "ping" {
					t.Errorf("asked %q, want ping", cmd)
				}
			case <-time.After(5 * time.Second):
				t.Error("redis-cli asked nothing")
			}
			if healthy := err == nil; healthy != tt.healthy {
				t.Errorf("healthy=%t (%v), want %t", healthy, err, tt.healthy)
			}
		})
	}
	t.Run("nothing listening", func(t *testing.T) {
		if err := run(closedPort(t)); err == nil {
			t.Error("healthy with nothing listening")
		}
	})
}
