// Package deploy checks the demo deployment — Dockerfile, docker-compose.yml
// with and without its profiles ha and app, the Keycloak realm it imports,
// the ha load balancer's nginx.conf and the forward-auth snippets for nginx,
// Caddy and Traefik — against itself and against rp's own settings
// validation, without Docker: `docker compose up`, `docker compose
// --profile ha up` and `docker compose --profile app up` must give a
// working sign-in and logout round trip at the first try. Where nginx and
// Caddy are installed, the snippets also run for real in front of an
// in-process rp (proxies_test.go).
package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/rp-project/rp/internal/config"
)

const (
	repoRoot       = ".."
	composeFile    = "docker-compose.yml"
	dockerfileName = "Dockerfile"

	keycloakService = "keycloak"
	rpService       = "rp" // the single rp of the default profile

	haProfile    = "ha"
	redisService = "redis"
	lbService    = "rp-lb"

	appProfile    = "app"
	whoamiService = "whoami"    // the demo app
	rpAppService  = "rp-app"    // rp in proxy mode in front of whoami
	rpFwdService  = "rp-fwd"    // rp answering fwd-nginx's auth_request
	fwdService    = "fwd-nginx" // nginx doing forward auth in front of whoami

	keycloakImageRepo = "quay.io/keycloak/keycloak"
	keycloakHTTPPort  = 8080 // Keycloak's HTTP port inside its container (dev mode)
	keycloakMgmtPort  = 9000 // Keycloak's management port: /health/*
	keycloakImportDir = "/opt/keycloak/data/import/"
	// keycloakVersionFile pins the Keycloak version, in one place: the
	// compose image and the tests' distribution (scripts/keycloak).
	keycloakVersionFile = "deploy/keycloak/VERSION"

	redisDefaultPort = "6379"  // the redis image's port unless --port says otherwise
	redisDefaultDir  = "/data" // the redis image's working directory, where the append-only file goes
	nginxConfTarget  = "/etc/nginx/nginx.conf"
)

var (
	// defaultServices is what `docker compose up` starts.
	defaultServices = []string{keycloakService, rpService}
	// haInstances are the rp instances of profile ha, behind lbService.
	haInstances = []string{"rp-a", "rp-b"}
	// haServices is what `docker compose --profile ha up` adds.
	haServices = []string{redisService, "rp-a", "rp-b", lbService}
	// appServices is what `docker compose --profile app up` adds.
	appServices = []string{whoamiService, rpAppService, rpFwdService, fwdService}
	// rpServices is every service running rp, in every profile.
	rpServices = []string{rpService, "rp-a", "rp-b", rpAppService, rpFwdService}
)

// stack is everything the checks look at, loaded once per test.
type stack struct {
	project    *types.Project // profiles ha and app enabled: every service
	base       *types.Project // no profile enabled: what `docker compose up` starts
	keycloak   types.ServiceConfig
	kcEnv      map[string]string
	rps        []*rpSvc // the services of rpServices, in that order
	rp         *rpSvc   // rpService
	lb         *balancer
	lbErr      error // why lb is nil
	fwd        *authProxy
	fwdErr     error // why fwd is nil
	dockerfile dockerfile
	realmPath  string
	realmRaw   []byte
	realm      realmRep
}

// rpSvc is one compose service running rp.
type rpSvc struct {
	name       string
	svc        types.ServiceConfig
	env        map[string]string // as rp's container sees it: Dockerfile ENV, then compose environment
	secretPath string            // host path of the file behind RP_CLIENT_SECRET_FILE
	secret     string            // its content as rp reads it
	cfg        config.Config
	cfgErr     error
}

func loadProject(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(repoRoot, composeFile)},
		cli.WithWorkingDirectory(repoRoot), cli.WithProfiles(profiles))
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("loading %s with compose-go (profiles %q): %v", composeFile, profiles, err)
	}
	return p
}

func loadStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{
		project: loadProject(t, haProfile, appProfile),
		base:    loadProject(t),
	}
	var ok bool
	if s.keycloak, ok = s.project.Services[keycloakService]; !ok {
		t.Fatalf("%s has no service %q", composeFile, keycloakService)
	}
	s.kcEnv = envMap(s.keycloak.Environment)

	var err error
	s.dockerfile, err = parseDockerfile(filepath.Join(repoRoot, dockerfileName))
	if err != nil {
		t.Fatalf("reading %s: %v", dockerfileName, err)
	}
	imageEnv := map[string]string{}
	if final, ok := s.dockerfile.final(); ok {
		imageEnv = final.env()
	}
	for _, name := range rpServices {
		svc, ok := s.project.Services[name]
		if !ok {
			t.Fatalf("%s has no service %q (with profiles %s and %s)", composeFile, name, haProfile, appProfile)
		}
		r, err := loadRP(s.project, svc, imageEnv)
		if err != nil {
			t.Fatal(err)
		}
		s.rps = append(s.rps, r)
	}
	s.rp = s.rps[0]

	s.realmPath, err = realmFile(s.project, s.keycloak)
	if err != nil {
		t.Fatal(err)
	}
	s.realmRaw, err = os.ReadFile(s.realmPath)
	if err != nil {
		t.Fatalf("reading the realm file: %v", err)
	}
	if err := json.Unmarshal(s.realmRaw, &s.realm); err != nil {
		t.Fatalf("%s is not a realm representation: %v", s.realmPath, err)
	}

	s.lb, s.lbErr = loadBalancer(s.project, lbService)
	s.fwd, s.fwdErr = loadAuthProxy(s.project, fwdService)
	return s
}

// loadRP reads what rp in svc's container gets, and runs rp's own
// validation on it.
func loadRP(p *types.Project, svc types.ServiceConfig, imageEnv map[string]string) (*rpSvc, error) {
	r := &rpSvc{name: svc.Name, svc: svc, env: maps.Clone(imageEnv)}
	maps.Copy(r.env, envMap(svc.Environment))

	// Secret files are the host files compose mounts at RP_*_FILE.
	env := maps.Clone(r.env)
	for k, v := range r.env {
		if strings.HasPrefix(k, "RP_") && strings.HasSuffix(k, "_FILE") {
			host, err := secretHostPath(p, svc, k, v)
			if err != nil {
				return nil, err
			}
			env[k] = host
		}
	}
	var err error
	if r.secretPath, err = secretHostPath(p, svc, "RP_CLIENT_SECRET_FILE", r.env["RP_CLIENT_SECRET_FILE"]); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(r.secretPath)
	if err != nil {
		return nil, fmt.Errorf("service %s: reading the client secret file: %v", svc.Name, err)
	}
	r.secret = strings.TrimRight(string(b), "\r\n") // as config.Load reads it

	r.cfg, r.cfgErr = config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	return r, nil
}

func (s *stack) rpByName(name string) *rpSvc {
	for _, r := range s.rps {
		if r.name == name {
			return r
		}
	}
	panic("no rp service " + name) // rpServices and haInstances disagree
}

// check is one named assertion of a table; it returns what is wrong.
type check struct {
	name string
	fn   func(s *stack) error
}

// eachRP makes a check of one rp service a check of every one.
func eachRP(fn func(s *stack, r *rpSvc) error) func(s *stack) error {
	return func(s *stack) error {
		var errs []error
		for _, r := range s.rps {
			if err := fn(s, r); err != nil {
				errs = append(errs, fmt.Errorf("service %s: %w", r.name, err))
			}
		}
		return errors.Join(errs...)
	}
}

func runChecks(t *testing.T, checks []check) {
	t.Helper()
	s := loadStack(t)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if err := c.fn(s); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRPConfigPassesValidation(t *testing.T) {
	s := loadStack(t)
	for _, r := range s.rps {
		t.Run(r.name, func(t *testing.T) {
			if r.cfgErr != nil {
				t.Fatalf("config.Load with %s's compose environment: %v", r.name, r.cfgErr)
			}
		})
	}
}

func TestCompose(t *testing.T) {
	runChecks(t, []check{
		{"keycloak image is a pinned 26.x tag", func(s *stack) error {
			repo, tag, digest := splitImage(s.keycloak.Image)
			if repo != keycloakImageRepo {
				return fmt.Errorf("image %q: want the official %s", s.keycloak.Image, keycloakImageRepo)
			}
			if !regexp.MustCompile(`^26\.\d+\.\d+(-\d+)?$`).MatchString(tag) {
				return fmt.Errorf("image %q: want a full 26.x.y tag (no latest, no floating 26 or 26.x), digest %q", s.keycloak.Image, digest)
			}
			return nil
		}},
		{"keycloak image is the version the tests run", func(s *stack) error {
			// The tests in e2e/keycloak run Keycloak's own distribution of
			// the version in deploy/keycloak/VERSION: compose must run the same.
			raw, err := os.ReadFile(filepath.Join(repoRoot, keycloakVersionFile))
			if err != nil {
				return err
			}
			want := strings.TrimSpace(string(raw))
			if _, tag, _ := splitImage(s.keycloak.Image); tag != want {
				return fmt.Errorf("image %q: want tag %s, the version in %s that e2e/keycloak tests against", s.keycloak.Image, want, keycloakVersionFile)
			}
			return nil
		}},
		{"every image is pinned", func(s *stack) error {
			var errs []error
			for _, svc := range s.project.Services {
				if svc.Build != nil {
					continue
				}
				_, tag, digest := splitImage(svc.Image)
				if digest == "" && !pinnedTag.MatchString(tag) {
					errs = append(errs, fmt.Errorf("service %s: image %q, want a version tag with at least major.minor (never latest, never none)", svc.Name, svc.Image))
				}
			}
			return errors.Join(errs...)
		}},
		{"the rp services are rp, rp-a, rp-b, rp-app and rp-fwd", func(s *stack) error {
			var got []string
			for _, svc := range s.project.Services {
				if _, env := svc.Environment["RP_CLIENT_ID"]; svc.Build != nil || env {
					got = append(got, svc.Name)
				}
			}
			slices.Sort(got)
			if want := slices.Sorted(slices.Values(rpServices)); !slices.Equal(got, want) {
				return fmt.Errorf("services built from the repository or setting RP_CLIENT_ID: %q, the checks know %q", got, want)
			}
			return nil
		}},
		{"keycloak runs start-dev and imports the realm", func(s *stack) error {
			cmd := []string(s.keycloak.Command)
			if !slices.Contains(cmd, "start-dev") || !slices.Contains(cmd, "--import-realm") {
				return fmt.Errorf("command %q: want start-dev --import-realm", cmd)
			}
			return nil
		}},
		{"keycloak bootstrap admin is set", func(s *stack) error {
			for _, k := range []string{"KC_BOOTSTRAP_ADMIN_USERNAME", "KC_BOOTSTRAP_ADMIN_PASSWORD"} {
				if s.kcEnv[k] == "" {
					return fmt.Errorf("%s is not set", k)
				}
			}
			return nil
		}},
		{"keycloak health endpoints are enabled", func(s *stack) error {
			if v := s.kcEnv["KC_HEALTH_ENABLED"]; v != "true" {
				return fmt.Errorf("KC_HEALTH_ENABLED=%q, want true (no listener on %d otherwise)", v, keycloakMgmtPort)
			}
			return nil
		}},
		{"keycloak health check asks the management port", func(s *stack) error {
			hc := s.keycloak.HealthCheck
			if hc == nil || hc.Disable || len(hc.Test) == 0 {
				return errors.New("keycloak has no health check")
			}
			cmd := strings.Join(hc.Test, " ")
			if !strings.Contains(cmd, strconv.Itoa(keycloakMgmtPort)) || !strings.Contains(cmd, "/health/ready") {
				return fmt.Errorf("health check %q: want /health/ready on port %d", cmd, keycloakMgmtPort)
			}
			if strings.Contains(cmd, "curl") || strings.Contains(cmd, "wget") {
				return fmt.Errorf("health check %q: the Keycloak image has no curl or wget", cmd)
			}
			if hc.Retries == nil || hc.Interval == nil || hc.StartPeriod == nil {
				return errors.New("health check: set interval, retries and start_period")
			}
			budget := time.Duration(*hc.StartPeriod) + time.Duration(*hc.Interval)*time.Duration(*hc.Retries)
			if budget < 2*time.Minute {
				return fmt.Errorf("health check gives Keycloak %s to become ready; a first start with an import can take longer", budget)
			}
			return nil
		}},
		{"keycloak port 8080 is published on 8080", func(s *stack) error {
			return wantPort(s.keycloak, keycloakHTTPPort, "8080")
		}},
		{"KC_HOSTNAME is the origin of RP_ISSUER", eachRP(func(s *stack, r *rpSvc) error {
			h, err := url.Parse(s.kcEnv["KC_HOSTNAME"])
			if err != nil || h.Scheme == "" || h.Host == "" {
				return fmt.Errorf("KC_HOSTNAME=%q: want a full URL (hostname v2 with KC_HOSTNAME_BACKCHANNEL_DYNAMIC needs one)", s.kcEnv["KC_HOSTNAME"])
			}
			iss, err := url.Parse(r.env["RP_ISSUER"])
			if err != nil {
				return fmt.Errorf("RP_ISSUER: %v", err)
			}
			if got, want := h.Scheme+"://"+h.Host+strings.TrimSuffix(h.Path, "/"), iss.Scheme+"://"+iss.Host; got != want {
				return fmt.Errorf("KC_HOSTNAME=%q, but RP_ISSUER %q has origin %q", s.kcEnv["KC_HOSTNAME"], r.env["RP_ISSUER"], want)
			}
			// Browsers reach that origin through the published port.
			if err := wantPort(s.keycloak, keycloakHTTPPort, portOf(h)); err != nil {
				return fmt.Errorf("KC_HOSTNAME %q: %v", h, err)
			}
			return nil
		})},
		{"back-channel URLs are dynamic", func(s *stack) error {
			if v := s.kcEnv["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"]; v != "true" {
				return fmt.Errorf("KC_HOSTNAME_BACKCHANNEL_DYNAMIC=%q, want true (rp calls Keycloak as %s)", v, keycloakService)
			}
			return nil
		}},
		{"RP_DISCOVERY_URL reaches the keycloak service", eachRP(func(s *stack, r *rpSvc) error {
			d, err := url.Parse(r.env["RP_DISCOVERY_URL"])
			if err != nil {
				return fmt.Errorf("RP_DISCOVERY_URL: %v", err)
			}
			if d.Hostname() != keycloakService || portOf(d) != strconv.Itoa(keycloakHTTPPort) {
				return fmt.Errorf("RP_DISCOVERY_URL=%q: want host %s:%d inside the compose network", d, keycloakService, keycloakHTTPPort)
			}
			if !sharesNetwork(s.keycloak, r.svc) {
				return fmt.Errorf("no network in common with %s", keycloakService)
			}
			iss, _ := url.Parse(r.env["RP_ISSUER"])
			if iss == nil || d.Path != iss.Path {
				return fmt.Errorf("RP_DISCOVERY_URL path %q differs from RP_ISSUER's", d.Path)
			}
			return nil
		})},
		{"rp is built from the Dockerfile", eachRP(func(s *stack, r *rpSvc) error {
			if r.svc.Build == nil || filepath.Clean(r.svc.Build.Context) != filepath.Clean(s.project.WorkingDir) {
				return fmt.Errorf("build: %+v, want the repository root", r.svc.Build)
			}
			return nil
		})},
		{"rp waits for keycloak to be healthy", eachRP(func(s *stack, r *rpSvc) error {
			dep, ok := r.svc.DependsOn[keycloakService]
			if !ok || dep.Condition != types.ServiceConditionHealthy {
				return fmt.Errorf("depends_on: %+v, want keycloak: condition: service_healthy", r.svc.DependsOn)
			}
			return nil
		})},
		{"rp has a health check by its own binary (the image has no shell)", eachRP(func(s *stack, r *rpSvc) error {
			hc := r.svc.HealthCheck
			if hc == nil || hc.Disable || strings.Join(hc.Test, " ") != "CMD /rp healthcheck" {
				return fmt.Errorf("health check %+v, want [CMD /rp healthcheck]", hc)
			}
			return nil
		})},
		{"rp restarts unless stopped", eachRP(func(s *stack, r *rpSvc) error {
			if r.svc.Restart != types.RestartPolicyUnlessStopped {
				return fmt.Errorf("restart: %q", r.svc.Restart)
			}
			return nil
		})},
		{"rp listens on RP_ADDR and is reached on RP_BASE_URL's port", eachRP(func(s *stack, r *rpSvc) error {
			_, port, err := net.SplitHostPort(r.cfg.Addr)
			if err != nil {
				return fmt.Errorf("RP_ADDR %q: %v", r.cfg.Addr, err)
			}
			n, err := strconv.Atoi(port)
			if err != nil {
				return fmt.Errorf("RP_ADDR %q: %v", r.cfg.Addr, err)
			}
			base, err := url.Parse(r.env["RP_BASE_URL"])
			if err != nil {
				return fmt.Errorf("RP_BASE_URL: %v", err)
			}
			if len(r.svc.Ports) == 0 && s.lbErr != nil {
				return fmt.Errorf("publishes no port, and the load balancer: %v", s.lbErr)
			}
			if s.lb != nil && s.lb.proxiesTo(r.name, port) {
				// Behind the balancer: browsers reach the balancer only.
				if len(r.svc.Ports) > 0 {
					return fmt.Errorf("is behind %s but publishes %v: every browser must come through the balancer", s.lb.svc.Name, r.svc.Ports)
				}
				return wantPort(s.lb.svc, s.lb.listen, portOf(base))
			}
			if r.name == rpFwdService {
				// Forward auth: browsers reach rp's routes on the app's
				// host, through the proxy only.
				if s.fwdErr != nil {
					return s.fwdErr
				}
				if len(r.svc.Ports) > 0 {
					return fmt.Errorf("is behind %s but publishes %v: every browser must come through the proxy", fwdService, r.svc.Ports)
				}
				if got := s.fwd.rpPass.Host; got != net.JoinHostPort(r.name, port) {
					return fmt.Errorf("%s passes %s/ to %s, want %s:%s", fwdService, s.fwd.prefix, got, r.name, port)
				}
				return wantPort(s.fwd.svc, s.fwd.listen, portOf(base))
			}
			return wantPort(r.svc, n, portOf(base))
		})},
		{"rp takes its client secret from a compose secret", eachRP(func(s *stack, r *rpSvc) error {
			if _, set := r.env["RP_CLIENT_SECRET"]; set {
				return errors.New("RP_CLIENT_SECRET is set in the environment; use RP_CLIENT_SECRET_FILE and a compose secret")
			}
			if r.secret == "" {
				return fmt.Errorf("%s is empty", r.secretPath)
			}
			return nil
		})},
		{"rp's sessions survive a restart", eachRP(func(s *stack, r *rpSvc) error {
			store := r.env["RP_SESSION_STORE"]
			switch {
			case strings.HasPrefix(store, "sqlite:"):
				// SQLite sessions live in a named volume.
				file := strings.TrimPrefix(store, "sqlite:")
				dir := path.Dir(file)
				if namedVolumeAt(s.project, r.svc, dir) == "" {
					return fmt.Errorf("no named volume (declared at the top level) is mounted at %s for %s", dir, store)
				}
				return nil
			case strings.HasPrefix(store, "redis://"), strings.HasPrefix(store, "rediss://"):
				return s.checkRedisStore(r, store)
			default:
				return fmt.Errorf("RP_SESSION_STORE=%q, want sqlite:PATH in a named volume or redis:// to a compose service", store)
			}
		})},
	})
}

// pinnedTag is an image tag naming at least a minor version: 7.4-alpine,
// 1.28.0, 26.4.1. Not latest, not a bare major.
var pinnedTag = regexp.MustCompile(`^v?\d+\.\d+(\.\d+)*(-[a-z0-9.]+)*$`)

// checkRedisStore checks rp's redis:// store against the compose service it names.
func (s *stack) checkRedisStore(r *rpSvc, store string) error {
	u, err := url.Parse(store)
	if err != nil {
		return fmt.Errorf("RP_SESSION_STORE: %v", err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = redisDefaultPort
	}
	svc, ok := s.project.Services[host]
	if !ok {
		return fmt.Errorf("RP_SESSION_STORE %q: host %q is not a compose service", u.Redacted(), host)
	}
	if repo, _, _ := splitImage(svc.Image); repo != "redis" && repo != "docker.io/library/redis" {
		return fmt.Errorf("RP_SESSION_STORE %q: service %s runs %q, not the official redis image", u.Redacted(), host, svc.Image)
	}
	want := redisDefaultPort
	if p := argAfter(svc.Command, "--port"); p != "" {
		want = p
	}
	if port != want {
		return fmt.Errorf("RP_SESSION_STORE %q: port %s, but %s listens on %s", u.Redacted(), port, host, want)
	}
	if !enabledWith(svc, r.svc) {
		return fmt.Errorf("RP_SESSION_STORE %q: service %s (profiles %q) is not started with %s (profiles %q)", u.Redacted(), host, svc.Profiles, r.name, r.svc.Profiles)
	}
	if !sharesNetwork(svc, r.svc) {
		return fmt.Errorf("no network in common with %s", host)
	}
	if dep, ok := r.svc.DependsOn[host]; !ok || dep.Condition != types.ServiceConditionHealthy {
		return fmt.Errorf("depends_on: %+v, want %s: condition: service_healthy", r.svc.DependsOn, host)
	}
	dir := redisDefaultDir
	if d := argAfter(svc.Command, "--dir"); d != "" {
		dir = d
	}
	if argAfter(svc.Command, "--appendonly") != "yes" || namedVolumeAt(s.project, svc, dir) == "" {
		return fmt.Errorf("service %s: want --appendonly yes and a named volume at %s, or its sessions end with its container", host, dir)
	}
	return nil
}

func TestRealm(t *testing.T) {
	runChecks(t, []check{
		{"keys are spelled as Keycloak reads them", func(s *stack) error {
			// encoding/json matches keys case-insensitively, Keycloak does
			// not: "frontChannelLogout" would pass the checks below and be
			// ignored by the import.
			return errors.Join(keyCaseMismatches(s.realmRaw, reflect.TypeFor[realmRep](), "realm")...)
		}},
		{"realm is the one in RP_ISSUER and enabled", eachRP(func(s *stack, r *rpSvc) error {
			if !s.realm.Enabled {
				return fmt.Errorf("realm %q is not enabled", s.realm.Realm)
			}
			iss, err := url.Parse(r.env["RP_ISSUER"])
			if err != nil {
				return err
			}
			if want := "/realms/" + s.realm.Realm; strings.TrimSuffix(iss.Path, "/") != want {
				return fmt.Errorf("RP_ISSUER path %q, want %q for realm %q", iss.Path, want, s.realm.Realm)
			}
			return nil
		})},
		{"client id is RP_CLIENT_ID", eachRP(func(s *stack, r *rpSvc) error {
			_, err := s.client(r)
			return err
		})},
		{"every client of the realm is some rp service's", func(s *stack) error {
			for _, c := range s.realm.Clients {
				if !slices.ContainsFunc(s.rps, func(r *rpSvc) bool { return r.env["RP_CLIENT_ID"] == c.ClientID }) {
					return fmt.Errorf("client %q: no service has RP_CLIENT_ID=%s", c.ClientID, c.ClientID)
				}
			}
			return nil
		}},
		{"rp services of one client share its address, secret and sessions", func(s *stack) error {
			byClient := map[string][]*rpSvc{}
			for _, r := range s.rps {
				id := r.env["RP_CLIENT_ID"]
				byClient[id] = append(byClient[id], r)
			}
			var errs []error
			for id, rs := range byClient {
				if len(rs) < 2 {
					continue
				}
				first := rs[0]
				for _, r := range rs[1:] {
					for _, k := range []string{"RP_BASE_URL", "RP_SESSION_STORE"} {
						if r.env[k] != first.env[k] {
							errs = append(errs, fmt.Errorf("client %q: %s has %s=%q, %s has %q", id, first.name, k, first.env[k], r.name, r.env[k]))
						}
					}
					if r.secret != first.secret {
						errs = append(errs, fmt.Errorf("client %q: %s and %s read different secrets", id, first.name, r.name))
					}
				}
				// A session started on one instance is ended by a logout
				// token delivered to another: one store for all.
				if store := first.env["RP_SESSION_STORE"]; !slices.ContainsFunc([]string{"redis://", "rediss://", "postgres://", "postgresql://"}, func(p string) bool { return strings.HasPrefix(store, p) }) {
					errs = append(errs, fmt.Errorf("client %q is used by %d services, but RP_SESSION_STORE=%q is not a shared store", id, len(rs), store))
				}
			}
			return errors.Join(errs...)
		}},
		{"client is confidential with the compose secret", eachRP(func(s *stack, r *rpSvc) error {
			c, err := s.client(r)
			if err != nil {
				return err
			}
			switch {
			case !c.Enabled:
				return errors.New("client is not enabled")
			case c.Protocol != "" && c.Protocol != "openid-connect":
				return fmt.Errorf("protocol %q", c.Protocol)
			case c.PublicClient == nil || *c.PublicClient:
				return errors.New("publicClient must be set to false")
			case c.BearerOnly:
				return errors.New("bearerOnly is true")
			case c.ClientAuthenticatorType != "client-secret":
				return fmt.Errorf("clientAuthenticatorType %q, want client-secret (rp uses %s)", c.ClientAuthenticatorType, r.cfg.TokenAuthMethod)
			case c.Secret != r.secret:
				return fmt.Errorf("client secret differs from the content of %s", r.secretPath)
			}
			return nil
		})},
		{"only the code flow is on", eachRP(func(s *stack, r *rpSvc) error {
			c, err := s.client(r)
			if err != nil {
				return err
			}
			flags := []struct {
				name string
				v    *bool
				want bool
			}{
				{"standardFlowEnabled", c.StandardFlowEnabled, true},
				{"implicitFlowEnabled", c.ImplicitFlowEnabled, false},
				{"directAccessGrantsEnabled", c.DirectAccessGrantsEnabled, false},
				{"serviceAccountsEnabled", c.ServiceAccountsEnabled, false},
			}
			for _, f := range flags {
				if f.v == nil || *f.v != f.want {
					return fmt.Errorf("%s must be set to %t", f.name, f.want)
				}
			}
			if m := c.Attributes["pkce.code.challenge.method"]; m != "S256" {
				return fmt.Errorf("pkce.code.challenge.method=%q, want S256", m)
			}
			return nil
		})},
		{"redirect URI is RP_BASE_URL + RP_PATH_PREFIX + /callback", eachRP(func(s *stack, r *rpSvc) error {
			c, err := s.client(r)
			if err != nil {
				return err
			}
			want := r.env["RP_BASE_URL"] + r.env["RP_PATH_PREFIX"] + "/callback"
			if !slices.Equal(c.RedirectURIs, []string{want}) {
				return fmt.Errorf("redirectUris %q, want exactly [%q]", c.RedirectURIs, want)
			}
			if r.cfg.RedirectURL() != want {
				return fmt.Errorf("rp's redirect URL %q, want %q", r.cfg.RedirectURL(), want)
			}
			return nil
		})},
		{"post-logout redirect URIs contain RP_BASE_URL + RP_PATH_PREFIX + /logged-out", eachRP(func(s *stack, r *rpSvc) error {
			c, err := s.client(r)
			if err != nil {
				return err
			}
			uris := strings.Split(c.Attributes["post.logout.redirect.uris"], "##")
			want := r.env["RP_BASE_URL"] + r.env["RP_PATH_PREFIX"] + "/logged-out"
			if !slices.Contains(uris, want) {
				return fmt.Errorf("post.logout.redirect.uris %q, want it to contain %q", uris, want)
			}
			if r.cfg.PostLogoutRedirectURL() != want {
				return fmt.Errorf("rp's post-logout redirect URL %q, want %q", r.cfg.PostLogoutRedirectURL(), want)
			}
			return nil
		})},
		{"back-channel logout reaches the rp service", eachRP(func(s *stack, r *rpSvc) error {
			c, err := s.client(r)
			if err != nil {
				return err
			}
			raw := c.Attributes["backchannel.logout.url"]
			u, err := url.Parse(raw)
			if err != nil || u.Scheme != "http" {
				return fmt.Errorf("backchannel.logout.url %q: want an http URL inside the compose network", raw)
			}
			_, addrPort, err := net.SplitHostPort(r.cfg.Addr)
			if err != nil {
				return fmt.Errorf("RP_ADDR %q: %v", r.cfg.Addr, err)
			}
			host := u.Hostname()
			target, ok := s.project.Services[host]
			switch {
			case !ok:
				return fmt.Errorf("backchannel.logout.url host %q is not a compose service", host)
			case host == r.name:
				if portOf(u) != addrPort {
					return fmt.Errorf("backchannel.logout.url port %q, want rp's container port %s (RP_ADDR %q)", portOf(u), addrPort, r.cfg.Addr)
				}
			case host == lbService && s.lbErr != nil:
				return fmt.Errorf("backchannel.logout.url goes through %s: %v", host, s.lbErr)
			case s.lb != nil && host == s.lb.svc.Name:
				if portOf(u) != strconv.Itoa(s.lb.listen) {
					return fmt.Errorf("backchannel.logout.url port %q, but %s listens on %d", portOf(u), host, s.lb.listen)
				}
				if !s.lb.proxiesTo(r.name, addrPort) {
					return fmt.Errorf("backchannel.logout.url goes to %s, whose upstream does not list %s:%s", host, r.name, addrPort)
				}
			default:
				return fmt.Errorf("backchannel.logout.url host %q, want the compose service %q or the load balancer in front of it", host, r.name)
			}
			if !sharesNetwork(s.keycloak, target) {
				return fmt.Errorf("backchannel.logout.url host %q has no network in common with %s", host, keycloakService)
			}
			if !enabledWith(target, r.svc) {
				return fmt.Errorf("backchannel.logout.url host %q (profiles %q) is not started with %s (profiles %q)", host, target.Profiles, r.name, r.svc.Profiles)
			}
			if want := r.env["RP_PATH_PREFIX"] + "/backchannel-logout"; u.Path != want || u.RawQuery != "" {
				return fmt.Errorf("backchannel.logout.url path %q, want %s (RP_PATH_PREFIX + /backchannel-logout)", u.Path, want)
			}
			if v := c.Attributes["backchannel.logout.session.required"]; v != "true" {
				return fmt.Errorf("backchannel.logout.session.required=%q, want true (rp indexes sessions by sid)", v)
			}
			return nil
		})},
		{"front-channel logout is explicitly off", eachRP(func(s *stack, r *rpSvc) error {
			c, err := s.client(r)
			if err != nil {
				return err
			}
			// Keycloak sends no back-channel logout to a client with
			// front-channel logout on, and new clients have it on.
			if c.FrontchannelLogout == nil || *c.FrontchannelLogout {
				return errors.New(`"frontchannelLogout": false must be set on the client`)
			}
			// Nothing sends front-channel logouts to rp, so its route, where
			// whoever knows a sid can end that session, stays off.
			if r.cfg.FrontchannelLogout {
				return errors.New("the client has front-channel logout off: set RP_FRONTCHANNEL_LOGOUT=false")
			}
			return nil
		})},
		{"group membership mapper", eachRP(func(s *stack, r *rpSvc) error {
			c, err := s.client(r)
			if err != nil {
				return err
			}
			want := map[string]string{
				"claim.name":           "groups",
				"full.path":            "false",
				"id.token.claim":       "true",
				"access.token.claim":   "true",
				"userinfo.token.claim": "true",
			}
			for _, m := range c.ProtocolMappers {
				if m.ProtocolMapper != "oidc-group-membership-mapper" {
					continue
				}
				for k, v := range want {
					if m.Config[k] != v {
						return fmt.Errorf("mapper %q: %s=%q, want %q", m.Name, k, m.Config[k], v)
					}
				}
				return nil
			}
			return errors.New("client has no oidc-group-membership-mapper")
		})},
		{"demo users can sign in and have groups", func(s *stack) error {
			if len(s.realm.Users) == 0 {
				return errors.New("realm has no users")
			}
			groups := map[string]bool{}
			for _, g := range s.realm.Groups {
				groups[strings.TrimPrefix(g.Name, "/")] = true
			}
			var errs []error
			for _, u := range s.realm.Users {
				bad := func(format string, args ...any) {
					errs = append(errs, fmt.Errorf("user %q: %s", u.Username, fmt.Sprintf(format, args...)))
				}
				if !u.Enabled || !u.EmailVerified || u.Email == "" || u.FirstName == "" || u.LastName == "" {
					bad("want enabled, emailVerified, email, firstName and lastName (or Keycloak asks at first sign-in)")
				}
				if len(u.RequiredActions) > 0 {
					bad("required actions %q interrupt the demo sign-in", u.RequiredActions)
				}
				if !slices.ContainsFunc(u.Credentials, func(c credentialRep) bool {
					return c.Type == "password" && c.Value != "" && c.Temporary != nil && !*c.Temporary
				}) {
					bad(`want a credential {"type": "password", "value": ..., "temporary": false}`)
				}
				if len(u.Groups) == 0 {
					bad("is in no group")
				}
				for _, g := range u.Groups {
					if !strings.HasPrefix(g, "/") || !groups[strings.TrimPrefix(g, "/")] {
						bad("group %q: want the path of a realm group, e.g. /admins", g)
					}
				}
			}
			return errors.Join(errs...)
		}},
		{"demo users may have offline tokens", func(s *stack) error {
			// rp may ask for offline_access (RP_OFFLINE_ACCESS=true);
			// Keycloak refuses the code of a user without the
			// offline_access role ("Offline tokens not allowed for the user
			// or client"), and an import gives the users of a realm file no
			// default roles: the file lists them.
			asks := slices.ContainsFunc(s.rps, func(r *rpSvc) bool { return r.cfg.OfflineAccess })
			if !asks {
				return nil
			}
			defaults := "default-roles-" + strings.ToLower(s.realm.Realm)
			var errs []error
			for _, u := range s.realm.Users {
				if !slices.Contains(u.RealmRoles, defaults) && !slices.Contains(u.RealmRoles, "offline_access") {
					errs = append(errs, fmt.Errorf("user %q: realmRoles %q, want %q (or offline_access): rp asks for offline_access, and Keycloak refuses every sign-in of a user without that role", u.Username, u.RealmRoles, defaults))
				}
			}
			return errors.Join(errs...)
		}},
	})
}

func TestDockerfile(t *testing.T) {
	runChecks(t, []check{
		{"multi-stage", func(s *stack) error {
			if n := len(s.dockerfile.stages); n < 2 {
				return fmt.Errorf("%d stage(s), want a build stage and a final stage", n)
			}
			return nil
		}},
		{"base images are pinned", func(s *stack) error {
			var names []string
			for _, st := range s.dockerfile.stages {
				if slices.Contains(names, st.from) { // FROM an earlier stage
					names = append(names, st.name)
					continue
				}
				names = append(names, st.name)
				_, tag, digest := splitImage(st.from)
				if digest == "" && (tag == "" || tag == "latest") {
					return fmt.Errorf("FROM %s: pin a tag or digest", st.from)
				}
			}
			return nil
		}},
		{"build stage's Go is at least go.mod's", func(s *stack) error {
			goVersion, err := goDirective(filepath.Join(repoRoot, "go.mod"))
			if err != nil {
				return err
			}
			for _, st := range s.dockerfile.stages {
				repo, tag, _ := splitImage(st.from)
				if repo != "golang" && repo != "docker.io/library/golang" {
					continue
				}
				img := strings.SplitN(tag, "-", 2)[0]
				if len(strings.Split(img, ".")) < 3 || compareVersions(img, goVersion) < 0 {
					return fmt.Errorf("FROM %s: want golang:%s or newer, with the full version (go.mod says go %s)", st.from, goVersion, goVersion)
				}
				return nil
			}
			return errors.New("no golang build stage")
		}},
		{"static build of ./cmd/rp", func(s *stack) error {
			for _, st := range s.dockerfile.stages {
				for _, in := range st.instructions {
					if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
						for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/rp"} {
							if !strings.Contains(in.args, want) && !(want == "CGO_ENABLED=0" && st.env()["CGO_ENABLED"] == "0") {
								return fmt.Errorf("RUN %s: missing %s", in.args, want)
							}
						}
						return nil
					}
				}
			}
			return errors.New("no RUN go build")
		}},
		{"modules are downloaded before the source is copied", func(s *stack) error {
			for _, st := range s.dockerfile.stages {
				download, copyAll := -1, -1
				for i, in := range st.instructions {
					if in.cmd == "RUN" && strings.Contains(in.args, "go mod download") && download < 0 {
						download = i
					}
					if in.cmd == "COPY" && strings.HasSuffix(strings.TrimSpace(in.args), ". .") && copyAll < 0 {
						copyAll = i
					}
				}
				if download >= 0 {
					if copyAll >= 0 && copyAll < download {
						return errors.New("COPY . . comes before go mod download: every source change downloads the modules again")
					}
					return nil
				}
			}
			return errors.New("no RUN go mod download")
		}},
		{"final stage runs as non-root", func(s *stack) error {
			final, _ := s.dockerfile.final()
			user := ""
			for _, in := range final.instructions {
				if in.cmd == "USER" {
					user = in.args
				}
			}
			_, tag, _ := splitImage(final.from)
			switch {
			case user != "":
				if u := strings.SplitN(user, ":", 2)[0]; u == "0" || u == "root" {
					return fmt.Errorf("USER %s", user)
				}
			case !strings.Contains(tag, "nonroot"):
				return fmt.Errorf("final stage FROM %s has no USER and is not a nonroot image", final.from)
			}
			return nil
		}},
		{"final stage runs /rp on RP_ADDR's port", eachRP(func(s *stack, r *rpSvc) error {
			final, _ := s.dockerfile.final()
			var entry, expose string
			for _, in := range final.instructions {
				switch in.cmd {
				case "ENTRYPOINT":
					entry = in.args
				case "EXPOSE":
					expose += " " + in.args
				}
			}
			var argv []string
			if err := json.Unmarshal([]byte(entry), &argv); err != nil || len(argv) == 0 || argv[0] != "/rp" {
				return fmt.Errorf(`ENTRYPOINT %s, want ["/rp"] (exec form)`, entry)
			}
			_, port, _ := net.SplitHostPort(r.cfg.Addr)
			if !slices.Contains(strings.Fields(expose), port) && !slices.Contains(strings.Fields(expose), port+"/tcp") {
				return fmt.Errorf("EXPOSE%s, want %s (RP_ADDR %q)", expose, port, r.cfg.Addr)
			}
			return nil
		})},
		{"final stage keeps SQLite sessions in a volume owned by nonroot", func(s *stack) error {
			final, _ := s.dockerfile.final()
			store := final.env()["RP_SESSION_STORE"]
			file, ok := strings.CutPrefix(store, "sqlite:")
			if !ok || !path.IsAbs(file) {
				return fmt.Errorf("ENV RP_SESSION_STORE=%q, want sqlite:/ABSOLUTE/PATH", store)
			}
			dir := path.Dir(file)
			var volume, owned bool
			for _, in := range final.instructions {
				switch {
				case in.cmd == "VOLUME" && strings.Contains(in.args, `"`+dir+`"`) || in.cmd == "VOLUME" && slices.Contains(strings.Fields(in.args), dir):
					volume = true
				case in.cmd == "COPY" && strings.Contains(in.args, "--chown=65532") && strings.HasSuffix(strings.TrimSpace(in.args), " "+dir):
					owned = true
				}
			}
			if !volume || !owned {
				return fmt.Errorf("%s: want VOLUME %s (%t) and a COPY --chown=65532 of it (%t)", store, dir, volume, owned)
			}
			return nil
		}},
		{".dockerignore keeps the demo secret and VCS data out of the build context", eachRP(func(s *stack, r *rpSvc) error {
			b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
			if err != nil {
				return err
			}
			var lines []string
			for _, l := range strings.Split(string(b), "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					lines = append(lines, strings.TrimSuffix(l, "/"))
				}
			}
			rel, err := filepath.Rel(s.project.WorkingDir, r.secretPath)
			if err != nil {
				return err
			}
			top := strings.Split(filepath.ToSlash(rel), "/")[0]
			for _, want := range []string{".git", top} {
				if !slices.Contains(lines, want) && !slices.Contains(lines, "/"+want) {
					return fmt.Errorf(".dockerignore does not list %s", want)
				}
			}
			return nil
		})},
	})
}

// TestKeycloakHealthCheckScript runs the compose health check's bash script
// against a stand-in for Keycloak's management port.
func TestKeycloakHealthCheckScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash here")
	}
	s := loadStack(t)
	hc := s.keycloak.HealthCheck
	if hc == nil || len(hc.Test) != 4 || hc.Test[0] != "CMD" || hc.Test[1] != "bash" || hc.Test[2] != "-c" {
		t.Fatalf("health check %q: want [CMD bash -c SCRIPT]", hc.Test)
	}
	script := hc.Test[3]
	const target = "/dev/tcp/127.0.0.1/9000"
	if !strings.Contains(script, target) {
		t.Fatalf("script does not open %s:\n%s", target, script)
	}

	upPretty := "{\n    \"status\": \"UP\",\n    \"checks\": [\n        {\n            \"name\": \"Keycloak database connections async health check\",\n            \"status\": \"UP\"\n        }\n    ]\n}"
	downWithUpCheck := "{\n    \"status\": \"DOWN\",\n    \"checks\": [\n        {\n            \"name\": \"Keycloak database connections async health check\",\n            \"status\": \"UP\"\n        }\n    ]\n}"
	tests := []struct {
		name    string
		status  int
		body    string
		healthy bool
	}{
		{"ready, pretty JSON", http.StatusOK, upPretty, true},
		{"ready, compact JSON", http.StatusOK, `{"status":"UP","checks":[]}`, true},
		{"starting: 503 DOWN with an UP check inside", http.StatusServiceUnavailable, downWithUpCheck, false},
		{"200 but DOWN", http.StatusOK, `{"status": "DOWN", "checks": []}`, false},
		{"not found", http.StatusNotFound, "not found", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotPath string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotPath = r.URL.Path
				w.Header().Set("Content-Type", "application/json; charset=UTF-8")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			err := runScript(bash, strings.Replace(script, target, "/dev/tcp/127.0.0.1/"+u.Port(), 1))
			if gotPath != "/health/ready" {
				t.Errorf("asked %q, want /health/ready", gotPath)
			}
			if healthy := err == nil; healthy != tt.healthy {
				t.Errorf("healthy=%t (%v), want %t", healthy, err, tt.healthy)
			}
		})
	}
	t.Run("nothing listening", func(t *testing.T) {
		if err := runScript(bash, strings.Replace(script, target, "/dev/tcp/127.0.0.1/"+strconv.Itoa(closedPort(t)), 1)); err == nil {
			t.Error("healthy with nothing listening")
		}
	})
}

// closedPort returns a loopback port on which nothing listens.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func runScript(bash, script string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bash, "-c", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// --- realm representation (the fields checked) ---

type realmRep struct {
	Realm   string      `json:"realm"`
	Enabled bool        `json:"enabled"`
	Groups  []groupRep  `json:"groups"`
	Users   []userRep   `json:"users"`
	Clients []clientRep `json:"clients"`
	// Without clientScopes, an import creates Keycloak's built-in client
	// scopes and links them to every client that lists none itself.
	ClientScopes                []clientScopeRep `json:"clientScopes"`
	DefaultDefaultClientScopes  []string         `json:"defaultDefaultClientScopes"`
	DefaultOptionalClientScopes []string         `json:"defaultOptionalClientScopes"`
}

type clientScopeRep struct {
	Name string `json:"name"`
}

type groupRep struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

type userRep struct {
	Username        string          `json:"username"`
	Enabled         bool            `json:"enabled"`
	Email           string          `json:"email"`
	EmailVerified   bool            `json:"emailVerified"`
	FirstName       string          `json:"firstName"`
	LastName        string          `json:"lastName"`
	Credentials     []credentialRep `json:"credentials"`
	Groups          []string        `json:"groups"`
	RealmRoles      []string        `json:"realmRoles"`
	RequiredActions []string        `json:"requiredActions"`
}

type credentialRep struct {
	Type      string `json:"type"`
	Value     string `json:"value"`
	Temporary *bool  `json:"temporary"`
}

type clientRep struct {
	ClientID                  string            `json:"clientId"`
	Enabled                   bool              `json:"enabled"`
	Protocol                  string            `json:"protocol"`
	PublicClient              *bool             `json:"publicClient"`
	BearerOnly                bool              `json:"bearerOnly"`
	ClientAuthenticatorType   string            `json:"clientAuthenticatorType"`
	Secret                    string            `json:"secret"`
	StandardFlowEnabled       *bool             `json:"standardFlowEnabled"`
	ImplicitFlowEnabled       *bool             `json:"implicitFlowEnabled"`
	DirectAccessGrantsEnabled *bool             `json:"directAccessGrantsEnabled"`
	ServiceAccountsEnabled    *bool             `json:"serviceAccountsEnabled"`
	FrontchannelLogout        *bool             `json:"frontchannelLogout"`
	RedirectURIs              []string          `json:"redirectUris"`
	DefaultClientScopes       []string          `json:"defaultClientScopes"`
	OptionalClientScopes      []string          `json:"optionalClientScopes"`
	Attributes                map[string]string `json:"attributes"`
	ProtocolMappers           []mapperRep       `json:"protocolMappers"`
}

type mapperRep struct {
	Name           string            `json:"name"`
	Protocol       string            `json:"protocol"`
	ProtocolMapper string            `json:"protocolMapper"`
	Config         map[string]string `json:"config"`
}

// keyCaseMismatches reports JSON object keys that match a field of t only
// when case is ignored, walking nested structs and slices.
func keyCaseMismatches(raw json.RawMessage, t reflect.Type, where string) []error {
	switch t.Kind() {
	case reflect.Pointer:
		return keyCaseMismatches(raw, t.Elem(), where)
	case reflect.Slice:
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return nil
		}
		var errs []error
		for i, item := range items {
			errs = append(errs, keyCaseMismatches(item, t.Elem(), fmt.Sprintf("%s[%d]", where, i))...)
		}
		return errs
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		var errs []error
		for key, value := range obj {
			for i := range t.NumField() {
				f := t.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if !strings.EqualFold(key, name) {
					continue
				}
				if key != name {
					errs = append(errs, fmt.Errorf("%s: key %q, Keycloak reads %q", where, key, name))
				} else {
					errs = append(errs, keyCaseMismatches(value, f.Type, where+"."+name)...)
				}
			}
		}
		return errs
	}
	return nil
}

// client returns the realm's client whose id is r's RP_CLIENT_ID.
func (s *stack) client(r *rpSvc) (clientRep, error) {
	id := r.env["RP_CLIENT_ID"]
	for _, c := range s.realm.Clients {
		if c.ClientID == id {
			return c, nil
		}
	}
	var ids []string
	for _, c := range s.realm.Clients {
		ids = append(ids, c.ClientID)
	}
	return clientRep{}, fmt.Errorf("realm %q has no client %q (RP_CLIENT_ID); it has %q", s.realm.Realm, id, ids)
}

// --- compose helpers ---

func envMap(m types.MappingWithEquals) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// wantPort reports whether svc publishes container port target on host port published.
func wantPort(svc types.ServiceConfig, target int, published string) error {
	for _, p := range svc.Ports {
		if int(p.Target) == target {
			if p.Published != published {
				return fmt.Errorf("service %s publishes container port %d on %q, want %q", svc.Name, target, p.Published, published)
			}
			return nil
		}
	}
	return fmt.Errorf("service %s does not publish container port %d (want %s:%d)", svc.Name, target, published, target)
}

// portOf is u's port, or its scheme's default.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// realmFile is the host path of the JSON file mounted into Keycloak's import directory.
func realmFile(p *types.Project, kc types.ServiceConfig) (string, error) {
	for _, v := range kc.Volumes {
		if v.Type == types.VolumeTypeBind && strings.HasPrefix(v.Target, keycloakImportDir) && strings.HasSuffix(v.Target, ".json") {
			src := v.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(p.WorkingDir, src)
			}
			return src, nil
		}
	}
	return "", fmt.Errorf("service %s mounts no realm JSON file into %s", kc.Name, keycloakImportDir)
}

// secretHostPath maps containerPath (the value of setting, e.g.
// RP_CLIENT_SECRET_FILE) to the host file of the compose secret mounted there.
func secretHostPath(p *types.Project, svc types.ServiceConfig, setting, containerPath string) (string, error) {
	if containerPath == "" {
		return "", fmt.Errorf("service %s has no %s", svc.Name, setting)
	}
	for _, sec := range svc.Secrets {
		target := sec.Target
		if target == "" {
			target = sec.Source
		}
		if !path.IsAbs(target) {
			target = path.Join("/run/secrets", target)
		}
		if target != containerPath {
			continue
		}
		def, ok := p.Secrets[sec.Source]
		if !ok || def.File == "" {
			return "", fmt.Errorf("secret %q has no file", sec.Source)
		}
		f := def.File
		if !filepath.IsAbs(f) {
			f = filepath.Join(p.WorkingDir, f)
		}
		return f, nil
	}
	return "", fmt.Errorf("service %s has no secret mounted at %s=%s", svc.Name, setting, containerPath)
}

// namedVolumeAt is the named volume, declared at the top level, that svc
// mounts at dir; "" if none.
func namedVolumeAt(p *types.Project, svc types.ServiceConfig, dir string) string {
	for _, v := range svc.Volumes {
		if v.Type == types.VolumeTypeVolume && path.Clean(v.Target) == path.Clean(dir) {
			if _, ok := p.Volumes[v.Source]; ok {
				return v.Source
			}
		}
	}
	return ""
}

// networks is the set of compose networks svc is attached to.
func networks(svc types.ServiceConfig) []string {
	if len(svc.Networks) == 0 {
		return []string{"default"}
	}
	return slices.Collect(maps.Keys(svc.Networks))
}

// sharesNetwork reports whether a and b can reach each other by service name.
func sharesNetwork(a, b types.ServiceConfig) bool {
	for _, n := range networks(a) {
		if slices.Contains(networks(b), n) {
			return true
		}
	}
	return false
}

// enabledWith reports whether compose starts target whenever it starts by:
// target is in no profile, or in every profile that enables by.
func enabledWith(target, by types.ServiceConfig) bool {
	if len(target.Profiles) == 0 {
		return true
	}
	if len(by.Profiles) == 0 {
		return false
	}
	for _, p := range by.Profiles {
		if !slices.Contains(target.Profiles, p) {
			return false
		}
	}
	return true
}

// argAfter is the argument following flag in cmd ("" if flag is absent).
func argAfter(cmd []string, flag string) string {
	if i := slices.Index(cmd, flag); i >= 0 && i+1 < len(cmd) {
		return cmd[i+1]
	}
	return ""
}

// splitImage splits an image reference into repository, tag and digest.
func splitImage(ref string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

// --- Dockerfile (enough of the syntax for the checks) ---

type dockerfile struct{ stages []stage }

type stage struct {
	from, name   string
	instructions []instruction
}

type instruction struct{ cmd, args string }

func (d dockerfile) final() (stage, bool) {
	if len(d.stages) == 0 {
		return stage{}, false
	}
	return d.stages[len(d.stages)-1], true
}

// env is the stage's ENV settings (KEY=VALUE form).
func (st stage) env() map[string]string {
	out := map[string]string{}
	for _, in := range st.instructions {
		if in.cmd != "ENV" {
			continue
		}
		for _, f := range strings.Fields(in.args) {
			if k, v, ok := strings.Cut(f, "="); ok {
				if uq, err := strconv.Unquote(v); err == nil {
					v = uq
				}
				out[k] = v
			}
		}
	}
	return out
}

func parseDockerfile(name string) (dockerfile, error) {
	f, err := os.Open(name)
	if err != nil {
		return dockerfile{}, err
	}
	defer f.Close()
	var d dockerfile
	var logical strings.Builder
	flush := func() error {
		line := strings.TrimSpace(logical.String())
		logical.Reset()
		if line == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(line, " ")
		cmd, args = strings.ToUpper(cmd), strings.TrimSpace(args)
		if cmd == "FROM" {
			var st stage
			fields := slices.DeleteFunc(strings.Fields(args), func(s string) bool { return strings.HasPrefix(s, "--") })
			if len(fields) == 0 {
				return errors.New("FROM without an image")
			}
			st.from = fields[0]
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.name = fields[2]
			}
			d.stages = append(d.stages, st)
			return nil
		}
		if len(d.stages) == 0 {
			if cmd == "ARG" {
				return nil
			}
			return fmt.Errorf("%s before FROM", cmd)
		}
		st := &d.stages[len(d.stages)-1]
		st.instructions = append(st.instructions, instruction{cmd, args})
		return nil
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue // comments, parser directives, comment lines inside continuations
		}
		if cont, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), `\`); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(line)
		if err := flush(); err != nil {
			return dockerfile{}, err
		}
	}
	if err := sc.Err(); err != nil {
		return dockerfile{}, err
	}
	if err := flush(); err != nil {
		return dockerfile{}, err
	}
	if len(d.stages) == 0 {
		return dockerfile{}, errors.New("no FROM")
	}
	return d, nil
}

// goDirective reads the go version from go.mod.
func goDirective(name string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s has no go directive", name)
}

// compareVersions compares dotted numeric versions such as 1.26.8.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
