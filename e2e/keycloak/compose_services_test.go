package keycloak

// The services of one compose profile, started on loopback from their
// definitions in docker-compose.yml: rp (built from the Dockerfile) runs
// in-process, redis and nginx are Debian's programs, whoami is a stand-in.
// Everything compose would give a container is mapped the way netmap maps
// addresses: service:port and published ports to loopback ports, compose
// secrets to the host files behind them, volumes to temporary directories,
// and the fixed addresses of a compose network to loopback addresses with
// the same last three bytes (10.203.83.10 → 127.203.83.10).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/redis/go-redis/v9"

	"github.com/rp-project/rp/internal/app/apptest"

	"github.com/rp-project/rp/internal/nginxconf"
)

// composeStack is the services of one profile, running until the test ends.
type composeStack struct {
	kc      *keycloak
	profile string
	rps     map[string]*composeRP
	nginxes map[string]*nginxProc
	volumes map[string]string // named volume → its directory
	// imageEnv and imageVolumes are what the Dockerfile's final stage sets
	// for every container built from it (ENV, VOLUME).
	imageEnv     map[string]string
	imageVolumes []string
}

// composeRP is one rp service, serving in-process.
type composeRP struct {
	name   string
	env    map[string]string // RP_* as rp got them, mapped
	direct string            // http://RP_ADDR, mapped: how the compose network reaches it
	log    *lockedBuffer
}

// nginxProc is one nginx service.
type nginxProc struct {
	name string
	conf string // the configuration it runs, rendered
	// upstreamLog is an access log the test adds beside the file's own:
	// method|uri|status|upstream address, one request a line.
	upstreamLog string
}

// profileServices is what `docker compose [--profile profile] up` adds to
// the default services ("" for the default profile itself), keycloak left
// out, in the order compose starts them (dependencies first).
func profileServices(t testing.TB, p *types.Project, profile string) []types.ServiceConfig {
	t.Helper()
	in := map[string]types.ServiceConfig{}
	for name, svc := range p.Services {
		if name == keycloakService {
			continue
		}
		if (profile == "" && len(svc.Profiles) == 0) || (profile != "" && slices.Contains(svc.Profiles, profile)) {
			in[name] = svc
		}
	}
	var order []types.ServiceConfig
	done := map[string]bool{}
	for len(order) < len(in) {
		progress := false
		for _, name := range slices.Sorted(maps.Keys(in)) {
			if done[name] {
				continue
			}
			ready := true
			for dep := range in[name].DependsOn {
				if _, ours := in[dep]; ours && !done[dep] {
					ready = false
				}
			}
			if ready {
				order = append(order, in[name])
				done[name] = true
				progress = true
			}
		}
		if !progress {
			t.Fatalf("profile %q: depends_on has a cycle", profile)
		}
	}
	if len(order) == 0 {
		t.Fatalf("docker-compose.yml has no service in profile %q", profile)
	}
	return order
}

// startCompose starts every service of profile but keycloak (the shared
// one already runs as the keycloak service), as compose would.
func startCompose(t *testing.T, kc *keycloak, profile string) *composeStack {
	t.Helper()
	s := &composeStack{kc: kc, profile: profile, rps: map[string]*composeRP{}, nginxes: map[string]*nginxProc{}, volumes: map[string]string{}}
	for _, svc := range profileServices(t, kc.Compose, profile) {
		repo, _, _ := strings.Cut(svc.Image, ":")
		switch {
		case svc.Build != nil:
			s.startRP(t, svc)
		case repo == "redis" || repo == "docker.io/library/redis":
			s.startRedis(t, svc)
		case repo == "nginx" || repo == "docker.io/library/nginx":
			s.startNginx(t, svc)
		case repo == "traefik/whoami" || repo == "docker.io/traefik/whoami":
			s.startWhoami(t, svc)
		default:
			t.Fatalf("service %s (image %q): no way to run it on loopback here; teach compose_services_test.go", svc.Name, svc.Image)
		}
	}
	return s
}

// --- rp ---

// startRP serves rp in-process with svc's environment over the image's,
// mapped to loopback, and waits until its /readyz answers (compose's
// health check, which rp-lb and fwd-nginx wait for).
func (s *composeStack) startRP(t *testing.T, svc types.ServiceConfig) {
	t.Helper()
	if s.imageEnv == nil {
		dockerfile := filepath.Join(svc.Build.Context, cmpOr(svc.Build.Dockerfile, "Dockerfile"))
		var err error
		if s.imageEnv, s.imageVolumes, err = imageDefaults(dockerfile); err != nil {
			t.Fatalf("service %s: %v", svc.Name, err)
		}
	}
	mounts := s.mounts(t, svc, s.imageVolumes)
	raw := maps.Clone(s.imageEnv)
	for k, v := range svc.Environment {
		if v != nil {
			raw[k] = *v
		}
	}
	env := map[string]string{}
	var addr string
	for k, v := range raw {
		switch {
		case k == "RP_ADDR":
			host, port, err := net.SplitHostPort(v)
			n, perr := strconv.Atoi(port)
			if err != nil || perr != nil || (host != "" && host != "0.0.0.0" && host != "::") {
				t.Fatalf("service %s: RP_ADDR=%q: want :PORT (every interface of its container)", svc.Name, v)
			}
			addr = "127.0.0.1:" + strconv.Itoa(s.kc.Net.Port(svc.Name, n))
			env[k] = addr
		case strings.HasPrefix(k, "RP_") && strings.HasSuffix(k, "_FILE"):
			host, err := secretHostPath(s.kc.Compose, svc, k, v)
			if err != nil {
				t.Fatal(err)
			}
			env[k] = host
		default:
			env[k] = s.mapValue(s.kc.Net.Rewrite(mapPaths(v, mounts)))
		}
	}
	if addr == "" {
		t.Fatalf("service %s: no RP_ADDR in its environment or the image's", svc.Name)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("service %s: %v", svc.Name, err)
	}
	r := &composeRP{name: svc.Name, env: env, direct: "http://" + addr, log: &lockedBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service %s (rp) log:\n%s", svc.Name, r.log)
		}
	})
	logger := slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug})).With("service", svc.Name)
	apptest.Serve(t, ln, env, logger)
	waitHTTP(t, svc.Name, r.direct+env["RP_PATH_PREFIX"]+"/readyz")
	s.rps[svc.Name] = r
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// waitHTTP waits until u answers 200.
func waitHTTP(t testing.TB, service, u string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(u)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("service %s: %s not 200 within a minute: %v", service, u, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mounts maps svc's container directories (its volumes, and the image's
// VOLUMEs compose gives an anonymous volume) to host directories: a named
// volume to one directory per stack, a bind mount to its source.
func (s *composeStack) mounts(t *testing.T, svc types.ServiceConfig, imageVolumes []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, v := range svc.Volumes {
		switch {
		case v.Type == types.VolumeTypeBind:
			m[v.Target] = hostPath(s.kc.Compose, v.Source)
		case v.Type == types.VolumeTypeVolume && v.Source != "":
			if s.volumes[v.Source] == "" {
				s.volumes[v.Source] = t.TempDir()
			}
			m[v.Target] = s.volumes[v.Source]
		default:
			m[v.Target] = t.TempDir()
		}
	}
	for _, target := range imageVolumes {
		if _, ok := m[target]; !ok {
			m[target] = t.TempDir()
		}
	}
	return m
}

// mapPaths replaces the container paths in v that lie in a mount by the
// host's (sqlite:/data/rp-sessions.db → sqlite:/tmp/.../rp-sessions.db).
func mapPaths(v string, mounts map[string]string) string {
	targets := slices.SortedFunc(maps.Keys(mounts), func(a, b string) int { return len(b) - len(a) })
	for _, target := range targets {
		re := regexp.MustCompile(`(^|[:=,\s])` + regexp.QuoteMeta(path.Clean(target)) + `(/|$|[,\s])`)
		v = re.ReplaceAllString(v, "${1}"+filepath.ToSlash(mounts[target])+"${2}")
	}
	return v
}

// ipv4 finds IPv4 addresses and prefixes in settings.
var ipv4 = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(/\d{1,2})?\b`)

// mapValue maps the addresses of compose networks in v to loopback.
func (s *composeStack) mapValue(v string) string {
	return ipv4.ReplaceAllStringFunc(v, func(m string) string {
		if l, ok := s.loopback(m); ok {
			return l
		}
		return m
	})
}

// loopback maps an address or prefix inside a subnet that
// docker-compose.yml declares for one of its networks to the loopback
// address or prefix with the same last three bytes: loopback is one /8, so
// every compose address keeps an address of its own (10.203.83.10 →
// 127.203.83.10), which a process here can connect from.
func (s *composeStack) loopback(addr string) (string, bool) {
	a, bits, isPrefix := strings.Cut(addr, "/")
	ip, err := netip.ParseAddr(a)
	if err != nil || !ip.Is4() {
		return "", false
	}
	if isPrefix {
		n, err := strconv.Atoi(bits)
		if err != nil || n < 8 {
			return "", false
		}
	}
	for _, nw := range s.kc.Compose.Networks {
		for _, pool := range nw.Ipam.Config {
			if pool == nil {
				continue
			}
			subnet, err := netip.ParsePrefix(pool.Subnet)
			if err != nil || !subnet.Contains(ip) || subnet.Bits() < 8 {
				continue
			}
			b := ip.As4()
			b[0] = 127
			out := netip.AddrFrom4(b).String()
			if isPrefix {
				out += "/" + bits
			}
			return out, true
		}
	}
	return "", false
}

// fixedAddress is the loopback address standing for svc's ipv4_address on
// a compose network, or "" when it has none.
func (s *composeStack) fixedAddress(t testing.TB, svc types.ServiceConfig) string {
	t.Helper()
	var out string
	for name, nw := range svc.Networks {
		if nw == nil || nw.Ipv4Address == "" {
			continue
		}
		l, ok := s.loopback(nw.Ipv4Address)
		if !ok {
			t.Fatalf("service %s: ipv4_address %s is in no subnet network %s declares", svc.Name, nw.Ipv4Address, name)
		}
		if out != "" && out != l {
			t.Fatalf("service %s: fixed addresses on two networks; one loopback address cannot stand for both", svc.Name)
		}
		out = l
	}
	return out
}

// secretHostPath maps containerPath (the value of setting, e.g.
// RP_CLIENT_SECRET_FILE) to the host file of the compose secret mounted
// there.
func secretHostPath(p *types.Project, svc types.ServiceConfig, setting, containerPath string) (string, error) {
	var mounted []string
	for _, sec := range svc.Secrets {
		target := cmpOr(sec.Target, sec.Source)
		if !path.IsAbs(target) {
			target = path.Join("/run/secrets", target)
		}
		mounted = append(mounted, target)
		if target != containerPath {
			continue
		}
		def, ok := p.Secrets[sec.Source]
		if !ok || def.File == "" {
			return "", fmt.Errorf("service %s: secret %q has no file", svc.Name, sec.Source)
		}
		return hostPath(p, def.File), nil
	}
	return "", fmt.Errorf("service %s: %s=%s, but compose mounts no secret there (it mounts %q): rp would not start", svc.Name, setting, containerPath, mounted)
}

// hostPath is a path of docker-compose.yml on the host.
func hostPath(p *types.Project, f string) string {
	if !filepath.IsAbs(f) {
		f = filepath.Join(p.WorkingDir, f)
	}
	return f
}

// imageDefaults reads the ENV and VOLUME instructions of the Dockerfile's
// final stage: what every container built from it starts with.
func imageDefaults(dockerfile string) (map[string]string, []string, error) {
	f, err := os.Open(dockerfile)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	env, volumes := map[string]string{}, []string(nil)
	instruction := func(line string) {
		cmd, args, _ := strings.Cut(strings.TrimSpace(line), " ")
		args = strings.TrimSpace(args)
		switch strings.ToUpper(cmd) {
		case "FROM":
			env, volumes = map[string]string{}, nil
		case "ENV":
			if !strings.Contains(strings.Fields(args)[0], "=") { // ENV KEY VALUE
				k, v, _ := strings.Cut(args, " ")
				env[k] = strings.TrimSpace(v)
				return
			}
			for _, kv := range strings.Fields(args) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					if uq, err := strconv.Unquote(v); err == nil {
						v = uq
					}
					env[k] = v
				}
			}
		case "VOLUME":
			var list []string
			if json.Unmarshal([]byte(args), &list) != nil {
				list = strings.Fields(args)
			}
			volumes = append(volumes, list...)
		}
	}
	var logical strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), `\`); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(line)
		if strings.TrimSpace(logical.String()) != "" {
			instruction(logical.String())
		}
		logical.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", dockerfile, err)
	}
	return env, volumes, nil
}

// --- redis ---

// startRedis runs redis-server with svc's command arguments on loopback,
// its data directory (the image's working directory /data, or --dir) in
// the volume compose mounts there, and waits for PONG (compose's health
// check).
func (s *composeStack) startRedis(t *testing.T, svc types.ServiceConfig) {
	t.Helper()
	bin := needProgram(t, "redis-server", "redis-server")
	args := []string(svc.Command)
	if len(args) > 0 && args[0] == "redis-server" {
		args = args[1:]
	}
	port := 6379
	if p := argAfter(args, "--port"); p != "" {
		port, _ = strconv.Atoi(p)
	}
	mounts := s.mounts(t, svc, nil)
	dir := cmpOr(argAfter(args, "--dir"), "/data")
	host, ok := mounts[dir]
	if !ok {
		host = t.TempDir()
	}
	addr := "127.0.0.1:" + strconv.Itoa(s.kc.Net.Port(svc.Name, port))
	args = append(slices.Clone(args), "--port", strconv.Itoa(s.kc.Net.Port(svc.Name, port)), "--bind", "127.0.0.1", "--dir", host)
	exited := startProcess(t, svc.Name, host, append([]string{bin}, args...)...)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pong, err := c.Ping(context.Background()).Result()
		if err == nil && pong == "PONG" {
			return
		}
		select {
		case <-exited:
			t.Fatalf("service %s: redis-server exited", svc.Name)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("service %s: no PONG from %s within 30s: %v", svc.Name, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// argAfter is the argument following flag in cmd ("" if flag is absent).
func argAfter(cmd []string, flag string) string {
	if i := slices.Index(cmd, flag); i >= 0 && i+1 < len(cmd) {
		return cmd[i+1]
	}
	return ""
}

// --- nginx ---

const nginxConfTarget = "/etc/nginx/nginx.conf"

// startNginx runs Debian's nginx with the nginx.conf compose mounts into
// svc, changed only as loopback needs: it listens on the loopback port of
// svc's container port; service:port in proxy_pass and upstream servers
// are mapped like every other address (and lose resolve: no Docker DNS
// here); the files it includes are the host files compose mounts there;
// pid, logs and temporary files go to a directory of the test; no user
// (the test's runs it). A service with a fixed address on a compose
// network connects to its upstreams from that address's loopback
// stand-in (proxy_bind), so that who trusts it (RP_TRUSTED_PROXIES) trusts
// it alone, as in compose.
func (s *composeStack) startNginx(t *testing.T, svc types.ServiceConfig) {
	t.Helper()
	bin := needProgram(t, "nginx", "nginx")
	var confPath string
	includes := map[string]string{}
	for _, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if v.Target == nginxConfTarget {
			confPath = hostPath(s.kc.Compose, v.Source)
		} else {
			includes[v.Target] = hostPath(s.kc.Compose, v.Source)
		}
	}
	if confPath == "" {
		t.Fatalf("service %s mounts no file at %s", svc.Name, nginxConfTarget)
	}
	src, err := os.ReadFile(confPath)
	if err != nil {
		t.Fatalf("service %s: %v", svc.Name, err)
	}
	conf, err := nginxconf.Parse(string(src))
	if err != nil {
		t.Fatalf("%s: %v", confPath, err)
	}
	dir := t.TempDir()
	n := &nginxProc{name: svc.Name, upstreamLog: filepath.Join(dir, "upstreams.log")}
	conf.Remove("user")
	conf.Set("pid", filepath.Join(dir, "nginx.pid"))
	conf.Set("error_log", filepath.Join(dir, "error.log"), "info")
	https := conf.All("http")
	if len(https) != 1 {
		t.Fatalf("%s: %d http blocks, want 1", confPath, len(https))
	}
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		https[0].Set(d+"_temp_path", filepath.Join(dir, d))
	}
	if from := s.fixedAddress(t, svc); from != "" {
		https[0].Set("proxy_bind", from)
	}
	https[0].Remove("resolver")
	// Which instance answered each request, whatever the file logs.
	https[0].Block = slices.Insert(https[0].Block, 0, &nginxconf.Directive{Name: "log_format", Parent: https[0],
		Args: []string{"compose_test", "$request_method|$uri|$status|$upstream_addr"}})
	logged := false
	var ports, listens []int
	for _, d := range conf.Walk() {
		switch d.Name {
		case "access_log":
			if len(d.Args) > 0 && d.Args[0] != "off" {
				d.Args[0] = filepath.Join(dir, "access.log")
			}
			// Beside each of the file's: both apply at that level.
			i := slices.Index(d.Parent.Block, d)
			d.Parent.Block = slices.Insert(d.Parent.Block, i+1, &nginxconf.Directive{Name: "access_log", Parent: d.Parent, Args: []string{n.upstreamLog, "compose_test"}})
			logged = true
		case "include":
			host, ok := includes[d.Args[0]]
			if !ok {
				t.Fatalf("%s: include %s: service %s mounts no file there", confPath, d.Args[0], svc.Name)
			}
			d.Args[0] = host
		case "listen":
			a := d.Args[0]
			if i := strings.LastIndex(a, ":"); i >= 0 {
				a = a[i+1:]
			}
			p, err := strconv.Atoi(a)
			if err != nil {
				t.Fatalf("%s: listen %q: want a port", confPath, d.Args)
			}
			lp := s.kc.Net.Port(svc.Name, p)
			ports = append(ports, lp)
			listens = append(listens, p)
			d.Args[0] = "127.0.0.1:" + strconv.Itoa(lp)
		case "proxy_pass":
			d.Args[0] = s.kc.Net.Rewrite(d.Args[0])
		case "server":
			if d.Parent != nil && d.Parent.Name == "upstream" && len(d.Args) > 0 {
				d.Args[0] = s.kc.Net.Rewrite(d.Args[0])
				d.Args = slices.DeleteFunc(d.Args, func(a string) bool { return a == "resolve" })
			}
		}
	}
	if len(ports) == 0 {
		t.Fatalf("%s: no listen directive", confPath)
	}
	for _, pub := range svc.Ports {
		if !slices.Contains(listens, int(pub.Target)) {
			t.Fatalf("service %s publishes container port %d, but its %s listens on %v only", svc.Name, pub.Target, filepath.Base(confPath), listens)
		}
	}
	if !logged {
		https[0].Block = append(https[0].Block, &nginxconf.Directive{Name: "access_log", Parent: https[0], Args: []string{n.upstreamLog, "compose_test"}})
	}
	n.conf = conf.String()
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(n.conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			accLog, _ := os.ReadFile(filepath.Join(dir, "access.log"))
			t.Logf("service %s (nginx) configuration:\n%s\nerror log:\n%s\naccess log:\n%s", svc.Name, n.conf, errLog, accLog)
		}
	})
	exited := startProcess(t, svc.Name, dir, bin, "-p", dir, "-c", confFile, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	for _, p := range ports {
		waitListening(t, svc.Name, p, exited)
	}
	s.nginxes[svc.Name] = n
}

// --- whoami ---

// startWhoami serves the whoami stand-in on the loopback port of the port
// traefik/whoami listens on in its container (80, or --port,
// WHOAMI_PORT_NUMBER).
func (s *composeStack) startWhoami(t *testing.T, svc types.ServiceConfig) {
	t.Helper()
	port := cmpOr(cmpOr(argAfter(svc.Command, "--port"), argAfter(svc.Command, "-port")), envOf(svc, "WHOAMI_PORT_NUMBER"))
	p, err := strconv.Atoi(cmpOr(port, "80"))
	if err != nil {
		t.Fatalf("service %s: port %q", svc.Name, port)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(s.kc.Net.Port(svc.Name, p)))
	if err != nil {
		t.Fatalf("service %s: %v", svc.Name, err)
	}
	serveWhoami(t, svc.Name, ln)
}

// --- processes ---

// needProgram finds a program a service runs, skipping the test without it
// (failing under CI=true, where scripts/test-services installs it).
func needProgram(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s is missing: scripts/test-services installs Debian's %s", name, pkg)
		}
		t.Skipf("%s is missing: install Debian's %s to run the compose services", name, pkg)
	}
	return p
}

// startProcess runs argv in dir, in a process group of its own, until the
// test ends; its output goes to the test log when the test fails. The
// channel is closed when the process exits.
func startProcess(t testing.TB, service, dir string, argv ...string) <-chan struct{} {
	t.Helper()
	out := &lockedBuffer{}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("service %s: starting %s: %v", service, argv[0], err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("service %s (%s) output:\n%s", service, filepath.Base(argv[0]), out)
		}
	})
	select {
	case <-done:
		t.Fatalf("service %s: %s exited at once: %v\n%s", service, argv[0], cmd.ProcessState, out)
	default:
	}
	return done
}

// waitListening waits until a loopback port accepts connections, or the
// process that should listen there exits.
func waitListening(t testing.TB, service string, port int, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("service %s exited before it listened on 127.0.0.1:%d", service, port)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("service %s: nothing listens on 127.0.0.1:%d after 30s", service, port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
