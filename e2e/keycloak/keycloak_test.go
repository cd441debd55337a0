package keycloak

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

const (
	keycloakService = "keycloak"
	kcHTTPPort      = 8080 // Keycloak's HTTP port in its container (dev mode)
	kcMgmtPort      = 9000 // its management port: /health/*
	kcImportDir     = "/opt/keycloak/data/import/"
	// startTimeout bounds Keycloak's start: a bound on a hang, not a speed
	// check. It took 15 s here with its dev build cached, 35 s without.
	startTimeout = 4 * time.Minute
	// augmentedMark is the file in the cached distribution saying its
	// lib/quarkus holds the dev-mode build (see keepDevBuild).
	augmentedMark = ".rp-dev-build"
)

// keycloak is one running Keycloak.
type keycloak struct {
	// URL is the front-end URL (KC_HOSTNAME, mapped): what browsers use and
	// what issuers start with, e.g. http://localhost:41234.
	URL string
	// Direct is the same server as 127.0.0.1, as rp reaches it from inside
	// compose's network (KC_HOSTNAME_BACKCHANNEL_DYNAMIC).
	Direct  string
	Mgmt    string // management interface: /health/ready
	Version string
	Java    string // the JAVA_HOME it runs on
	Compose *types.Project
	Net     *netmap
	// Started is how long it took from start to ready.
	Started time.Duration

	adminUser, adminPass string
	cmd                  *exec.Cmd
	exited               chan struct{}
	runDir               string
	log                  *lockedBuffer

	mu       sync.Mutex
	token    string
	tokenExp time.Time
	logins   sync.Map // realm/username → *sync.Mutex: see oneLoginAtATime
}

// oneLoginAtATime waits until no other test is submitting u's password,
// and returns the function that lets the next one go. With brute-force
// protection on (the demo realm), Keycloak 26 refuses a login of a user
// while another of the same user is in progress, and until its
// brute-force bookkeeping of that one has finished, shortly after it
// answered ("Invalid username or password" on the page,
// user_temporarily_disabled in its log): the demo users are shared by
// parallel tests.
func (k *keycloak) oneLoginAtATime(u user) func() {
	m, _ := k.logins.LoadOrStore(u.Realm+"/"+u.Username, &sync.Mutex{})
	m.(*sync.Mutex).Lock()
	return m.(*sync.Mutex).Unlock
}

// concurrentRefusals counts the logins of u Keycloak has refused because
// another was in progress (its event log: LOGIN_ERROR
// user_temporarily_disabled).
func (k *keycloak) concurrentRefusals(u user) int {
	n := 0
	for _, line := range strings.Split(k.Log(), "\n") {
		if strings.Contains(line, `type="LOGIN_ERROR"`) && strings.Contains(line, `error="user_temporarily_disabled"`) &&
			strings.Contains(line, `realmName="`+u.Realm+`"`) && strings.Contains(line, `username="`+u.Username+`"`) {
			n++
		}
	}
	return n
}

// refusedAsConcurrent reports whether Keycloak logs a new such refusal of
// u (more than before), waiting a little for its log.
func (k *keycloak) refusedAsConcurrent(u user, before int) bool {
	deadline := time.Now().Add(2 * time.Second)
	for {
		if k.concurrentRefusals(u) > before {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Issuer is realm's issuer, as tokens carry it.
func (k *keycloak) Issuer(realm string) string { return k.URL + "/realms/" + realm }

// Log is Keycloak's output so far.
func (k *keycloak) Log() string { return k.log.String() }

// script runs scripts/keycloak with args and returns its output's last line.
func script(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot, "scripts", "keycloak")}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/keycloak %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// startKeycloak starts Keycloak as compose's keycloak service, with every
// address mapped to loopback, and waits until it is ready.
func startKeycloak() (*keycloak, error) {
	home, err := script("home")
	if err != nil {
		return nil, err
	}
	java, err := script("java")
	if err != nil {
		return nil, err
	}
	version, err := script("version")
	if err != nil {
		return nil, err
	}
	project, err := loadCompose()
	if err != nil {
		return nil, err
	}
	svc, ok := project.Services[keycloakService]
	if !ok {
		return nil, fmt.Errorf("docker-compose.yml has no service %s", keycloakService)
	}
	nm := newNetmap(project)

	run, err := os.MkdirTemp("", "rp-keycloak-")
	if err != nil {
		return nil, err
	}
	k := &keycloak{Version: version, Java: java, Compose: project, Net: nm, runDir: run, log: &lockedBuffer{}, exited: make(chan struct{})}
	fail := func(err error) (*keycloak, error) {
		k.stop()
		return nil, err
	}
	// A copy per run: dev mode writes its H2 database, transaction logs
	// and build into the distribution's directory.
	if out, err := exec.Command("cp", "-a", home+"/.", run+"/").CombinedOutput(); err != nil {
		return fail(fmt.Errorf("copying %s: %w: %s", home, err, out))
	}
	importDir := filepath.Join(run, "data", "import")
	if err := os.MkdirAll(importDir, 0o755); err != nil {
		return fail(err)
	}
	// The realm files compose mounts into the import directory, mapped.
	imported := 0
	for _, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind || !strings.HasPrefix(v.Target, kcImportDir) {
			continue
		}
		src := v.Source
		if !filepath.IsAbs(src) {
			src = filepath.Join(project.WorkingDir, src)
		}
		raw, err := os.ReadFile(src)
		if err != nil {
			return fail(fmt.Errorf("realm file of service %s: %w", keycloakService, err))
		}
		dst := filepath.Join(importDir, filepath.Base(v.Target))
		if err := os.WriteFile(dst, []byte(nm.Rewrite(string(raw))), 0o644); err != nil {
			return fail(err)
		}
		imported++
	}
	if imported == 0 {
		return fail(fmt.Errorf("service %s mounts no realm file into %s", keycloakService, kcImportDir))
	}
	// The test-only realms.
	extra, _ := filepath.Glob(filepath.Join("testdata", "*-realm.json"))
	for _, src := range extra {
		raw, err := os.ReadFile(src)
		if err != nil {
			return fail(err)
		}
		if err := os.WriteFile(filepath.Join(importDir, filepath.Base(src)), raw, 0o644); err != nil {
			return fail(err)
		}
	}

	// The service's environment, mapped, then where to listen.
	env := []string{"JAVA_HOME=" + java}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KC_") && !strings.HasPrefix(kv, "JAVA_") {
			env = append(env, kv)
		}
	}
	for name, v := range svc.Environment {
		if v == nil {
			continue
		}
		env = append(env, name+"="+nm.Rewrite(*v))
		switch name {
		case "KC_BOOTSTRAP_ADMIN_USERNAME":
			k.adminUser = *v
		case "KC_BOOTSTRAP_ADMIN_PASSWORD":
			k.adminPass = *v
		}
	}
	httpPort, mgmtPort := nm.Port(keycloakService, kcHTTPPort), nm.Port(keycloakService, kcMgmtPort)
	env = append(env, "KC_HTTP_HOST=127.0.0.1",
		"KC_HTTP_PORT="+strconv.Itoa(httpPort),
		"KC_HTTP_MANAGEMENT_PORT="+strconv.Itoa(mgmtPort))
	k.Direct = "http://127.0.0.1:" + strconv.Itoa(httpPort)
	k.Mgmt = "http://127.0.0.1:" + strconv.Itoa(mgmtPort)
	k.URL = strings.TrimSuffix(nm.Rewrite(envOf(svc, "KC_HOSTNAME")), "/")
	if k.URL == "" {
		k.URL = "http://localhost:" + strconv.Itoa(httpPort)
	}

	k.cmd = exec.Command(filepath.Join(run, "bin", "kc.sh"), svc.Command...)
	k.cmd.Dir = run
	k.cmd.Env = env
	k.cmd.Stdout = k.log
	k.cmd.Stderr = k.log
	// Its own process group, ended as one by stop. Should the test binary
	// die first (a -timeout panic), SIGTERM reaches kc.sh, which passes it
	// on to Java (or is Java, after a rebuild's exec).
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	began := time.Now()
	if err := k.cmd.Start(); err != nil {
		return fail(fmt.Errorf("starting Keycloak: %w", err))
	}
	go func() { k.cmd.Wait(); close(k.exited) }()

	if err := k.waitReady(); err != nil {
		return fail(fmt.Errorf("%w\n%s", err, tail(k.log.String(), 40)))
	}
	k.Started = time.Since(began)
	fmt.Fprintf(os.Stderr, "e2e/keycloak: Keycloak %s on %s ready at %s after %s\n", version, filepath.Base(java), k.URL, k.Started.Round(100*time.Millisecond))
	k.keepDevBuild(home)
	return k, nil
}

func envOf(svc types.ServiceConfig, name string) string {
	if v := svc.Environment[name]; v != nil {
		return *v
	}
	return ""
}

// waitReady waits for the management interface's /health/ready to say UP.
func (k *keycloak) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	c := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case <-k.exited:
			return errors.New("Keycloak exited before it was ready")
		default:
		}
		resp, err := c.Get(k.Mgmt + "/health/ready")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"UP"`)) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("Keycloak was not ready within %s", startTimeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// keepDevBuild copies the dev-mode build Keycloak made at its first start
// (about 20 s of its start here) back into the cached distribution, so the
// next run starts from it.
func (k *keycloak) keepDevBuild(home string) {
	if _, err := os.Stat(filepath.Join(home, augmentedMark)); err == nil {
		return
	}
	tmp, err := os.MkdirTemp(home, ".quarkus-")
	if err != nil {
		return
	}
	defer os.RemoveAll(tmp)
	if exec.Command("cp", "-a", filepath.Join(k.runDir, "lib", "quarkus")+"/.", tmp+"/").Run() != nil {
		return
	}
	old := filepath.Join(home, "lib", "quarkus")
	if os.Rename(old, tmp+".old") != nil {
		return
	}
	if os.Rename(tmp, old) != nil {
		os.Rename(tmp+".old", old)
		return
	}
	os.RemoveAll(tmp + ".old")
	os.WriteFile(filepath.Join(home, augmentedMark), []byte(k.Version+"\n"), 0o644)
}

// stop ends Keycloak (SIGTERM to its process group, then SIGKILL) and
// removes its copy of the distribution.
func (k *keycloak) stop() {
	if k.cmd != nil && k.cmd.Process != nil {
		syscall.Kill(-k.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-k.exited:
		case <-time.After(20 * time.Second):
			syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
			<-k.exited
		}
	}
	if k.runDir != "" {
		os.RemoveAll(k.runDir)
	}
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// lockedBuffer collects output written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
