package deploy

import (
	"errors"
	"fmt"
	"github.com/compose-spec/compose-go/v2/types"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/nginxconf"
)

// --- the load balancer of profile ha ---

// balancer is the nginx service in front of rp instances, and what its
// configuration says.
type balancer struct {
	svc      types.ServiceConfig
	mount    types.ServiceVolumeConfig // nginx.conf's bind mount
	confPath string                    // its host path
	conf     *nginxconf.Directive
	http     *nginxconf.Directive
	server   *nginxconf.Directive // the server block
	location *nginxconf.Directive // its location /
	upstream *nginxconf.Directive // the upstream that location proxies to
	listen   int                  // the port the server listens on
	servers  []upstreamServer
}

// upstreamServer is one server line of the upstream.
type upstreamServer struct {
	host, port string
	params     []string
}

func (b *balancer) proxiesTo(host, port string) bool {
	return slices.ContainsFunc(b.servers, func(u upstreamServer) bool { return u.host == host && u.port == port })
}

// loadBalancer reads service name's nginx.conf: one server listening on one
// port, whose location / proxies to one upstream.
func loadBalancer(p *types.Project, name string) (*balancer, error) {
	svc, ok := p.Services[name]
	if !ok {
		return nil, fmt.Errorf("%s has no service %q (with profile %s)", composeFile, name, haProfile)
	}
	b := &balancer{svc: svc}
	for _, v := range svc.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == nginxConfTarget {
			b.mount = v
			b.confPath = v.Source
			if !filepath.IsAbs(b.confPath) {
				b.confPath = filepath.Join(p.WorkingDir, b.confPath)
			}
		}
	}
	if b.confPath == "" {
		return nil, fmt.Errorf("service %s mounts no file at %s", name, nginxConfTarget)
	}
	src, err := os.ReadFile(b.confPath)
	if err != nil {
		return nil, fmt.Errorf("service %s: %v", name, err)
	}
	if b.conf, err = nginxconf.Parse(string(src)); err != nil {
		return nil, fmt.Errorf("%s: %v", b.confPath, err)
	}
	bad := func(format string, args ...any) (*balancer, error) {
		return nil, fmt.Errorf("%s: %s", b.confPath, fmt.Sprintf(format, args...))
	}

	if https := b.conf.All("http"); len(https) != 1 {
		return bad("%d http blocks, want 1", len(https))
	}
	b.http = b.conf.All("http")[0]
	servers := b.http.All("server")
	if len(servers) != 1 {
		return bad("%d server blocks, want 1", len(servers))
	}
	b.server = servers[0]
	for _, l := range b.server.All("listen") {
		if len(l.Args) == 0 {
			return bad("listen without an address")
		}
		addr := l.Args[0]
		if _, port, err := net.SplitHostPort(addr); err == nil {
			addr = port
		}
		n, err := strconv.Atoi(addr)
		if err != nil {
			return bad("listen %s: want a port or address:port", l.Args[0])
		}
		if b.listen != 0 && b.listen != n {
			return bad("listens on %d and %d, want one port", b.listen, n)
		}
		b.listen = n
	}
	if b.listen == 0 {
		return bad("the server has no listen (nginx would use 80, or 8000 when not root)")
	}
	for _, l := range b.server.All("location") {
		if slices.Equal(l.Args, []string{"/"}) {
			b.location = l
		}
	}
	if b.location == nil {
		return bad("no location /")
	}
	pass := b.location.All("proxy_pass")
	if len(pass) != 1 || len(pass[0].Args) != 1 {
		return bad("location / wants one proxy_pass http://UPSTREAM")
	}
	target, ok := strings.CutPrefix(pass[0].Args[0], "http://")
	if !ok || target == "" || strings.ContainsAny(target, "/$") {
		return bad("proxy_pass %s: want http://UPSTREAM, without a path (rp's paths pass unchanged) or variables", pass[0].Args[0])
	}
	for _, u := range b.http.All("upstream") {
		if slices.Equal(u.Args, []string{target}) {
			b.upstream = u
		}
	}
	if b.upstream == nil {
		return bad("proxy_pass http://%s: no upstream %s", target, target)
	}
	for _, sv := range b.upstream.All("server") {
		if len(sv.Args) == 0 {
			return bad("upstream %s: server without an address", target)
		}
		host, port, err := net.SplitHostPort(sv.Args[0])
		if err != nil {
			host, port = sv.Args[0], "80"
		}
		b.servers = append(b.servers, upstreamServer{host, port, sv.Args[1:]})
	}
	return b, nil
}

// lbCheck is a check of the balancer, failing if it could not be read.
func lbCheck(fn func(s *stack, b *balancer) error) func(s *stack) error {
	return func(s *stack) error {
		if s.lbErr != nil {
			return s.lbErr
		}
		return fn(s, s.lb)
	}
}

// authProxy is the nginx service doing forward authentication with
// auth_request, and what its configuration says.
type authProxy struct {
	svc      types.ServiceConfig
	confPath string
	conf     *nginxconf.Directive
	server   *nginxconf.Directive
	listen   int
	prefix   string               // the location of rp's own routes, without its trailing /
	rpLoc    *nginxconf.Directive // location PREFIX/: rp's own routes
	authLoc  *nginxconf.Directive // the location auth_request asks
	appLoc   *nginxconf.Directive // location /: the app
	rpPass   *url.URL             // rpLoc's proxy_pass
	authPass *url.URL             // authLoc's proxy_pass
	appPass  *url.URL             // appLoc's proxy_pass
	// vars maps each auth_request_set variable of appLoc to the
	// response header it reads ("x-forwarded-user", "location").
	vars map[string]string
	// includes maps the path of each include directive to the host file
	// the service mounts there.
	includes map[string]string
}

// parseAuthProxy reads an nginx configuration doing forward authentication:
// one server with a location for rp's own routes (PREFIX/), a location /
// with auth_request, and the internal location that request goes to.
func parseAuthProxy(src string) (*authProxy, error) {
	conf, err := nginxconf.Parse(src)
	if err != nil {
		return nil, err
	}
	a := &authProxy{conf: conf, vars: map[string]string{}}
	https := conf.All("http")
	if len(https) != 1 {
		return nil, fmt.Errorf("%d http blocks, want 1", len(https))
	}
	servers := https[0].All("server")
	if len(servers) != 1 {
		return nil, fmt.Errorf("%d server blocks, want 1", len(servers))
	}
	a.server = servers[0]
	for _, l := range a.server.All("listen") {
		addr := l.Args[0]
		if _, port, err := net.SplitHostPort(addr); err == nil {
			addr = port
		}
		if a.listen, err = strconv.Atoi(addr); err != nil {
			return nil, fmt.Errorf("listen %s: want a port or address:port", l.Args[0])
		}
	}
	if a.listen == 0 {
		return nil, errors.New("the server has no listen")
	}
	if a.appLoc = a.server.Location("/"); a.appLoc == nil {
		return nil, errors.New("no location /")
	}
	auth := a.appLoc.All("auth_request")
	if len(auth) != 1 || len(auth[0].Args) != 1 || auth[0].Args[0] == "off" {
		return nil, errors.New("location / wants one auth_request URI")
	}
	if a.authLoc = a.server.Location("=", auth[0].Args[0]); a.authLoc == nil {
		return nil, fmt.Errorf("auth_request %s: no location = %s", auth[0].Args[0], auth[0].Args[0])
	}
	for _, l := range a.server.All("location") {
		if len(l.Args) == 1 && l.Args[0] != "/" && strings.HasSuffix(l.Args[0], "/") && !strings.HasPrefix(l.Args[0], "@") {
			if a.rpLoc != nil {
				return nil, fmt.Errorf("locations %s and %s: want one prefix location for rp's routes", a.rpLoc.Args[0], l.Args[0])
			}
			a.rpLoc = l
		}
	}
	if a.rpLoc == nil {
		return nil, errors.New("no location PREFIX/ for rp's own routes (sign-in, callback, logout)")
	}
	a.prefix = strings.TrimSuffix(a.rpLoc.Args[0], "/")
	for _, p := range []struct {
		loc *nginxconf.Directive
		dst **url.URL
	}{{a.rpLoc, &a.rpPass}, {a.authLoc, &a.authPass}, {a.appLoc, &a.appPass}} {
		pass := p.loc.All("proxy_pass")
		if len(pass) != 1 || len(pass[0].Args) != 1 {
			return nil, fmt.Errorf("location %s wants one proxy_pass", strings.Join(p.loc.Args, " "))
		}
		u, err := url.Parse(pass[0].Args[0])
		if err != nil || u.Scheme != "http" || u.Host == "" || strings.Contains(pass[0].Args[0], "$") {
			return nil, fmt.Errorf("location %s: proxy_pass %s: want http://HOST:PORT[/PATH], without variables", strings.Join(p.loc.Args, " "), pass[0].Args[0])
		}
		*p.dst = u
	}
	for _, s := range a.appLoc.All("auth_request_set") {
		if len(s.Args) != 2 {
			return nil, fmt.Errorf("auth_request_set %q: want $VAR $upstream_http_NAME", s.Args)
		}
		from, ok := strings.CutPrefix(s.Args[1], "$upstream_http_")
		if !ok || !strings.HasPrefix(s.Args[0], "$") {
			return nil, fmt.Errorf("auth_request_set %q: want $VAR $upstream_http_NAME", s.Args)
		}
		a.vars[s.Args[0]] = strings.ReplaceAll(from, "_", "-")
	}
	return a, nil
}

// loadAuthProxy reads the nginx.conf of compose service name.
func loadAuthProxy(p *types.Project, name string) (*authProxy, error) {
	svc, ok := p.Services[name]
	if !ok {
		return nil, fmt.Errorf("%s has no service %q (with profile %s)", composeFile, name, appProfile)
	}
	var confPath string
	for _, v := range svc.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == nginxConfTarget {
			if !v.ReadOnly {
				return nil, fmt.Errorf("service %s mounts %s read-write", name, nginxConfTarget)
			}
			confPath = v.Source
			if !filepath.IsAbs(confPath) {
				confPath = filepath.Join(p.WorkingDir, confPath)
			}
		}
	}
	if confPath == "" {
		return nil, fmt.Errorf("service %s mounts no file at %s", name, nginxConfTarget)
	}
	src, err := os.ReadFile(confPath)
	if err != nil {
		return nil, fmt.Errorf("service %s: %v", name, err)
	}
	a, err := parseAuthProxy(string(src))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", confPath, err)
	}
	a.svc, a.confPath = svc, confPath
	a.includes = map[string]string{}
	for _, d := range a.conf.Walk() {
		if d.Name != "include" {
			continue
		}
		if len(d.Args) != 1 {
			return nil, fmt.Errorf("%s: include %q: want one file", confPath, d.Args)
		}
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind && v.Target == d.Args[0] {
				if !v.ReadOnly {
					return nil, fmt.Errorf("service %s mounts %s read-write", name, v.Target)
				}
				src := v.Source
				if !filepath.IsAbs(src) {
					src = filepath.Join(p.WorkingDir, src)
				}
				a.includes[d.Args[0]] = src
			}
		}
		if a.includes[d.Args[0]] == "" {
			return nil, fmt.Errorf("%s: include %s: service %s mounts no file there", confPath, d.Args[0], name)
		}
	}
	return a, nil
}

// forwardAuthSecretHeader is the header a forward-auth proxy proves its
// questions are its own with (RP_FORWARD_AUTH_SECRET).
const forwardAuthSecretHeader = "X-RP-Forward-Auth-Secret"

// forwardAuthSecret is what the auth location sends rp as
// X-RP-Forward-Auth-Secret: a variable set by a file it includes, read from
// the host file mounted there.
func (a *authProxy) forwardAuthSecret() (string, error) {
	loc := "location = " + a.authLoc.Args[1]
	v := a.authLoc.SetHeaders()[strings.ToLower(forwardAuthSecretHeader)]
	if !strings.HasPrefix(v, "$") {
		return "", fmt.Errorf("%s: proxy_set_header %s %q, want a variable set by an included file (the secret stays out of nginx.conf)", loc, forwardAuthSecretHeader, v)
	}
	for _, inc := range a.authLoc.All("include") {
		src, err := os.ReadFile(a.includes[inc.Args[0]])
		if err != nil {
			return "", fmt.Errorf("%s: include %s: %v", loc, inc.Args[0], err)
		}
		conf, err := nginxconf.Parse(string(src))
		if err != nil {
			return "", fmt.Errorf("%s: %v", a.includes[inc.Args[0]], err)
		}
		for _, d := range conf.Block {
			if d.Name == "set" && len(d.Args) == 2 && d.Args[0] == v {
				return d.Args[1], nil
			}
		}
	}
	return "", fmt.Errorf("%s: no included file sets %s", loc, v)
}

// headerVar is the variable of appLoc that auth_request_set fills from
// rp's response header name ("x-forwarded-user"), or "".
func (a *authProxy) headerVar(name string) string {
	for v, h := range a.vars {
		if h == strings.ToLower(name) {
			return v
		}
	}
	return ""
}

// ngxCondition is the condition of an if block without white space:
// if ($x = "") is ($x="").
func ngxCondition(d *nginxconf.Directive) string {
	var b strings.Builder
	for _, a := range d.Args {
		b.WriteString(nginxconf.Quote(a))
	}
	return b.String()
}

// TestNginxRoundTrip checks that String writes back what parseNginx read:
// the tests render the snippets for a real nginx that way.
func TestNginxRoundTrip(t *testing.T) {
	for _, name := range []string{"ha/nginx.conf", forwardAuthDir + "/nginx.conf"} {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		first, err := nginxconf.Parse(string(src))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		second, err := nginxconf.Parse(first.String())
		if err != nil {
			t.Fatalf("%s written back does not parse: %v\n%s", name, err, first)
		}
		if first.String() != second.String() || len(first.Walk()) != len(second.Walk()) {
			t.Errorf("%s changes when written back:\n%s\n---\n%s", name, first, second)
		}
	}
	d, err := nginxconf.Parse(`a "" 'b c' "d\"e" x\.y;`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.String(), `a "" "b c" "d\"e" x\.y;`+"\n"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
