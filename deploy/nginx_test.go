package deploy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// --- nginx.conf (enough of the syntax for the checks) ---

// ngxDirective is one directive of an nginx configuration: its name, its
// arguments, and the directives of its block if it has one.
type ngxDirective struct {
	name   string
	args   []string
	block  []*ngxDirective // nil for a simple directive
	parent *ngxDirective   // nil at the top level
}

// all is every directive called name in d's block.
func (d *ngxDirective) all(name string) []*ngxDirective {
	var out []*ngxDirective
	for _, c := range d.block {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

// inherited is the directives called name that apply in d's block, as nginx
// inherits them: those of the innermost enclosing level that has any.
func (d *ngxDirective) inherited(name string) []*ngxDirective {
	for level := d; level != nil; level = level.parent {
		if found := level.all(name); len(found) > 0 {
			return found
		}
	}
	return nil
}

// parseNginx parses the syntax of an nginx configuration: directives ending
// in ; or a {} block, # comments, quoted arguments. It does not follow include.
func parseNginx(src string) (*ngxDirective, error) {
	toks, err := ngxTokens(src)
	if err != nil {
		return nil, err
	}
	root := &ngxDirective{name: "main", block: []*ngxDirective{}}
	cur := root
	var words []string
	for _, tk := range toks {
		switch {
		case tk.punct && tk.text == ";":
			if len(words) == 0 {
				return nil, fmt.Errorf("line %d: unexpected ;", tk.line)
			}
			cur.block = append(cur.block, &ngxDirective{name: words[0], args: words[1:], parent: cur})
			words = nil
		case tk.punct && tk.text == "{":
			if len(words) == 0 {
				return nil, fmt.Errorf("line %d: block without a directive", tk.line)
			}
			d := &ngxDirective{name: words[0], args: words[1:], block: []*ngxDirective{}, parent: cur}
			cur.block = append(cur.block, d)
			cur, words = d, nil
		case tk.punct && tk.text == "}":
			if len(words) > 0 {
				return nil, fmt.Errorf("line %d: %q is missing its ;", tk.line, strings.Join(words, " "))
			}
			if cur == root {
				return nil, fmt.Errorf("line %d: unexpected }", tk.line)
			}
			cur = cur.parent
		default:
			words = append(words, tk.text)
		}
	}
	if len(words) > 0 {
		return nil, fmt.Errorf("%q is missing its ; at the end", strings.Join(words, " "))
	}
	if cur != root {
		return nil, fmt.Errorf("block %q is not closed", cur.name)
	}
	return root, nil
}

type ngxToken struct {
	text  string
	punct bool // ; { }
	line  int
}

func ngxTokens(src string) ([]ngxToken, error) {
	var toks []ngxToken
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == ';' || c == '{' || c == '}':
			toks = append(toks, ngxToken{string(c), true, line})
			i++
		case c == '"' || c == '\'':
			start := line
			var b strings.Builder
			for i++; ; i++ {
				if i >= len(src) {
					return nil, fmt.Errorf("line %d: unterminated %c", start, c)
				}
				if src[i] == '\\' && i+1 < len(src) {
					i++
					b.WriteByte(src[i])
					continue
				}
				if src[i] == c {
					i++
					break
				}
				if src[i] == '\n' {
					line++
				}
				b.WriteByte(src[i])
			}
			toks = append(toks, ngxToken{b.String(), false, start})
		default:
			start := i
			for i < len(src) && !strings.ContainsRune(" \t\r\n;{}", rune(src[i])) {
				if src[i] == '$' && i+1 < len(src) && src[i+1] == '{' { // ${var}
					if j := strings.IndexByte(src[i:], '}'); j > 0 {
						i += j
					}
				}
				i++
			}
			toks = append(toks, ngxToken{src[start:i], false, line})
		}
	}
	return toks, nil
}

// ngxDuration parses an nginx time such as 75s, 1m30s, 500ms or 60 (seconds).
func ngxDuration(s string) (time.Duration, error) {
	if !regexp.MustCompile(`^(\d+(ms|s|m|h|d)?)+$`).MatchString(s) {
		return 0, fmt.Errorf("%q is not an nginx time", s)
	}
	units := map[string]time.Duration{"ms": time.Millisecond, "": time.Second, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
	var d time.Duration
	for _, p := range regexp.MustCompile(`(\d+)(ms|s|m|h|d)?`).FindAllStringSubmatch(s, -1) {
		n, err := strconv.Atoi(p[1])
		if err != nil {
			return 0, err
		}
		d += time.Duration(n) * units[p[2]]
	}
	return d, nil
}

// --- the load balancer of profile ha ---

// balancer is the nginx service in front of rp instances, and what its
// configuration says.
type balancer struct {
	svc      types.ServiceConfig
	mount    types.ServiceVolumeConfig // nginx.conf's bind mount
	confPath string                    // its host path
	conf     *ngxDirective
	http     *ngxDirective
	server   *ngxDirective // the server block
	location *ngxDirective // its location /
	upstream *ngxDirective // the upstream that location proxies to
	listen   int           // the port the server listens on
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
	if b.conf, err = parseNginx(string(src)); err != nil {
		return nil, fmt.Errorf("%s: %v", b.confPath, err)
	}
	bad := func(format string, args ...any) (*balancer, error) {
		return nil, fmt.Errorf("%s: %s", b.confPath, fmt.Sprintf(format, args...))
	}

	if https := b.conf.all("http"); len(https) != 1 {
		return bad("%d http blocks, want 1", len(https))
	}
	b.http = b.conf.all("http")[0]
	servers := b.http.all("server")
	if len(servers) != 1 {
		return bad("%d server blocks, want 1", len(servers))
	}
	b.server = servers[0]
	for _, l := range b.server.all("listen") {
		if len(l.args) == 0 {
			return bad("listen without an address")
		}
		addr := l.args[0]
		if _, port, err := net.SplitHostPort(addr); err == nil {
			addr = port
		}
		n, err := strconv.Atoi(addr)
		if err != nil {
			return bad("listen %s: want a port or address:port", l.args[0])
		}
		if b.listen != 0 && b.listen != n {
			return bad("listens on %d and %d, want one port", b.listen, n)
		}
		b.listen = n
	}
	if b.listen == 0 {
		return bad("the server has no listen (nginx would use 80, or 8000 when not root)")
	}
	for _, l := range b.server.all("location") {
		if slices.Equal(l.args, []string{"/"}) {
			b.location = l
		}
	}
	if b.location == nil {
		return bad("no location /")
	}
	pass := b.location.all("proxy_pass")
	if len(pass) != 1 || len(pass[0].args) != 1 {
		return bad("location / wants one proxy_pass http://UPSTREAM")
	}
	target, ok := strings.CutPrefix(pass[0].args[0], "http://")
	if !ok || target == "" || strings.ContainsAny(target, "/$") {
		return bad("proxy_pass %s: want http://UPSTREAM, without a path (rp's paths pass unchanged) or variables", pass[0].args[0])
	}
	for _, u := range b.http.all("upstream") {
		if slices.Equal(u.args, []string{target}) {
			b.upstream = u
		}
	}
	if b.upstream == nil {
		return bad("proxy_pass http://%s: no upstream %s", target, target)
	}
	for _, sv := range b.upstream.all("server") {
		if len(sv.args) == 0 {
			return bad("upstream %s: server without an address", target)
		}
		host, port, err := net.SplitHostPort(sv.args[0])
		if err != nil {
			host, port = sv.args[0], "80"
		}
		b.servers = append(b.servers, upstreamServer{host, port, sv.args[1:]})
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

func TestParseNginx(t *testing.T) {
	conf, err := parseNginx(`
# comment
events { worker_connections 10; }
http {
    log_format x '$remote_addr "$uri" # not a comment';
    upstream u { server a:1 max_fails=2; server b:2; }
    server {
        listen 8080;
        location / { proxy_set_header Host "${http_host}"; proxy_read_timeout 1m30s; }
    }
}`)
	if err != nil {
		t.Fatal(err)
	}
	http := conf.all("http")
	if len(http) != 1 {
		t.Fatalf("http blocks: %d", len(http))
	}
	if lf := http[0].all("log_format"); len(lf) != 1 || !slices.Equal(lf[0].args, []string{"x", `$remote_addr "$uri" # not a comment`}) {
		t.Errorf("log_format: %+v", lf)
	}
	up := http[0].all("upstream")[0].all("server")
	if len(up) != 2 || !slices.Equal(up[0].args, []string{"a:1", "max_fails=2"}) {
		t.Errorf("upstream servers: %+v", up)
	}
	loc := http[0].all("server")[0].all("location")[0]
	if h := loc.inherited("proxy_set_header"); len(h) != 1 || !slices.Equal(h[0].args, []string{"Host", "${http_host}"}) {
		t.Errorf("proxy_set_header: %+v", h)
	}
	if l := loc.inherited("worker_connections"); l != nil {
		t.Errorf("events' directives leak into http: %+v", l)
	}
	if d, err := ngxDuration(loc.inherited("proxy_read_timeout")[0].args[0]); err != nil || d != 90*time.Second {
		t.Errorf("proxy_read_timeout: %v, %v", d, err)
	}
	for _, bad := range []string{"http {", "}", "listen 80", "a { b; } }", `x "unterminated;`} {
		if _, err := parseNginx(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	for in, want := range map[string]time.Duration{"60": time.Minute, "75s": 75 * time.Second, "500ms": 500 * time.Millisecond, "1h": time.Hour} {
		if got, err := ngxDuration(in); err != nil || got != want {
			t.Errorf("ngxDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "s", "1x", "-1s"} {
		if _, err := ngxDuration(in); err == nil {
			t.Errorf("ngxDuration(%q) passed", in)
		}
	}
}

// --- writing a configuration back, and finding directives ---

// String renders d as nginx reads it: the main context's directives, or d
// itself with its block. Arguments are quoted where nginx needs quotes.
func (d *ngxDirective) String() string {
	var b strings.Builder
	if d.parent == nil {
		for _, c := range d.block {
			c.write(&b, 0)
		}
		return b.String()
	}
	d.write(&b, 0)
	return b.String()
}

func (d *ngxDirective) write(b *strings.Builder, depth int) {
	b.WriteString(strings.Repeat("    ", depth))
	b.WriteString(d.name)
	for _, a := range d.args {
		b.WriteByte(' ')
		b.WriteString(ngxQuote(a))
	}
	if d.block == nil {
		b.WriteString(";\n")
		return
	}
	b.WriteString(" {\n")
	for _, c := range d.block {
		c.write(b, depth+1)
	}
	b.WriteString(strings.Repeat("    ", depth) + "}\n")
}

// ngxQuote quotes an argument when nginx would otherwise split or misread it.
func ngxQuote(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\r\n;{}\"'#") {
		return a // backslashes of a regex stay as written
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`
}

// walk is every directive below d, depth first, in file order.
func (d *ngxDirective) walk() []*ngxDirective {
	var out []*ngxDirective
	for _, c := range d.block {
		out = append(out, c)
		out = append(out, c.walk()...)
	}
	return out
}

// location is d's location block whose arguments are args ("/", or "=", "/x"), or nil.
func (d *ngxDirective) location(args ...string) *ngxDirective {
	for _, l := range d.all("location") {
		if slices.Equal(l.args, args) {
			return l
		}
	}
	return nil
}

// arg is the first argument of the one directive called name in d's
// block, or "" when there is none.
func (d *ngxDirective) arg(name string) string {
	if found := d.all(name); len(found) == 1 && len(found[0].args) > 0 {
		return found[0].args[0]
	}
	return ""
}

// setHeaders is what proxy_set_header sends to the upstream from d's block,
// as nginx inherits it, by lower-case header name.
func (d *ngxDirective) setHeaders() map[string]string {
	set := map[string]string{}
	for _, h := range d.inherited("proxy_set_header") {
		if len(h.args) == 2 {
			set[strings.ToLower(h.args[0])] = h.args[1]
		}
	}
	return set
}

// remove deletes d's directives called name.
func (d *ngxDirective) remove(name string) {
	d.block = slices.DeleteFunc(d.block, func(c *ngxDirective) bool { return c.name == name })
}

// set replaces d's directives called name by one with args (first in the
// block when there was none).
func (d *ngxDirective) set(name string, args ...string) {
	for i, c := range d.block {
		if c.name == name {
			d.remove(name)
			d.block = slices.Insert(d.block, min(i, len(d.block)), &ngxDirective{name: name, args: args, parent: d})
			return
		}
	}
	d.block = slices.Insert(d.block, 0, &ngxDirective{name: name, args: args, parent: d})
}

// --- the forward-auth nginx of profile app ---

// authProxy is the nginx service doing forward authentication with
// auth_request, and what its configuration says.
type authProxy struct {
	svc      types.ServiceConfig
	confPath string
	conf     *ngxDirective
	server   *ngxDirective
	listen   int
	prefix   string        // the location of rp's own routes, without its trailing /
	rpLoc    *ngxDirective // location PREFIX/: rp's own routes
	authLoc  *ngxDirective // the location auth_request asks
	appLoc   *ngxDirective // location /: the app
	rpPass   *url.URL      // rpLoc's proxy_pass
	authPass *url.URL      // authLoc's proxy_pass
	appPass  *url.URL      // appLoc's proxy_pass
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
	conf, err := parseNginx(src)
	if err != nil {
		return nil, err
	}
	a := &authProxy{conf: conf, vars: map[string]string{}}
	https := conf.all("http")
	if len(https) != 1 {
		return nil, fmt.Errorf("%d http blocks, want 1", len(https))
	}
	servers := https[0].all("server")
	if len(servers) != 1 {
		return nil, fmt.Errorf("%d server blocks, want 1", len(servers))
	}
	a.server = servers[0]
	for _, l := range a.server.all("listen") {
		addr := l.args[0]
		if _, port, err := net.SplitHostPort(addr); err == nil {
			addr = port
		}
		if a.listen, err = strconv.Atoi(addr); err != nil {
			return nil, fmt.Errorf("listen %s: want a port or address:port", l.args[0])
		}
	}
	if a.listen == 0 {
		return nil, errors.New("the server has no listen")
	}
	if a.appLoc = a.server.location("/"); a.appLoc == nil {
		return nil, errors.New("no location /")
	}
	auth := a.appLoc.all("auth_request")
	if len(auth) != 1 || len(auth[0].args) != 1 || auth[0].args[0] == "off" {
		return nil, errors.New("location / wants one auth_request URI")
	}
	if a.authLoc = a.server.location("=", auth[0].args[0]); a.authLoc == nil {
		return nil, fmt.Errorf("auth_request %s: no location = %s", auth[0].args[0], auth[0].args[0])
	}
	for _, l := range a.server.all("location") {
		if len(l.args) == 1 && l.args[0] != "/" && strings.HasSuffix(l.args[0], "/") && !strings.HasPrefix(l.args[0], "@") {
			if a.rpLoc != nil {
				return nil, fmt.Errorf("locations %s and %s: want one prefix location for rp's routes", a.rpLoc.args[0], l.args[0])
			}
			a.rpLoc = l
		}
	}
	if a.rpLoc == nil {
		return nil, errors.New("no location PREFIX/ for rp's own routes (sign-in, callback, logout)")
	}
	a.prefix = strings.TrimSuffix(a.rpLoc.args[0], "/")
	for _, p := range []struct {
		loc *ngxDirective
		dst **url.URL
	}{{a.rpLoc, &a.rpPass}, {a.authLoc, &a.authPass}, {a.appLoc, &a.appPass}} {
		pass := p.loc.all("proxy_pass")
		if len(pass) != 1 || len(pass[0].args) != 1 {
			return nil, fmt.Errorf("location %s wants one proxy_pass", strings.Join(p.loc.args, " "))
		}
		u, err := url.Parse(pass[0].args[0])
		if err != nil || u.Scheme != "http" || u.Host == "" || strings.Contains(pass[0].args[0], "$") {
			return nil, fmt.Errorf("location %s: proxy_pass %s: want http://HOST:PORT[/PATH], without variables", strings.Join(p.loc.args, " "), pass[0].args[0])
		}
		*p.dst = u
	}
	for _, s := range a.appLoc.all("auth_request_set") {
		if len(s.args) != 2 {
			return nil, fmt.Errorf("auth_request_set %q: want $VAR $upstream_http_NAME", s.args)
		}
		from, ok := strings.CutPrefix(s.args[1], "$upstream_http_")
		if !ok || !strings.HasPrefix(s.args[0], "$") {
			return nil, fmt.Errorf("auth_request_set %q: want $VAR $upstream_http_NAME", s.args)
		}
		a.vars[s.args[0]] = strings.ReplaceAll(from, "_", "-")
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
	for _, d := range a.conf.walk() {
		if d.name != "include" {
			continue
		}
		if len(d.args) != 1 {
			return nil, fmt.Errorf("%s: include %q: want one file", confPath, d.args)
		}
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind && v.Target == d.args[0] {
				if !v.ReadOnly {
					return nil, fmt.Errorf("service %s mounts %s read-write", name, v.Target)
				}
				src := v.Source
				if !filepath.IsAbs(src) {
					src = filepath.Join(p.WorkingDir, src)
				}
				a.includes[d.args[0]] = src
			}
		}
		if a.includes[d.args[0]] == "" {
			return nil, fmt.Errorf("%s: include %s: service %s mounts no file there", confPath, d.args[0], name)
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
	loc := "location = " + a.authLoc.args[1]
	v := a.authLoc.setHeaders()[strings.ToLower(forwardAuthSecretHeader)]
	if !strings.HasPrefix(v, "$") {
		return "", fmt.Errorf("%s: proxy_set_header %s %q, want a variable set by an included file (the secret stays out of nginx.conf)", loc, forwardAuthSecretHeader, v)
	}
	for _, inc := range a.authLoc.all("include") {
		src, err := os.ReadFile(a.includes[inc.args[0]])
		if err != nil {
			return "", fmt.Errorf("%s: include %s: %v", loc, inc.args[0], err)
		}
		conf, err := parseNginx(string(src))
		if err != nil {
			return "", fmt.Errorf("%s: %v", a.includes[inc.args[0]], err)
		}
		for _, d := range conf.block {
			if d.name == "set" && len(d.args) == 2 && d.args[0] == v {
				return d.args[1], nil
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
func ngxCondition(d *ngxDirective) string {
	var b strings.Builder
	for _, a := range d.args {
		b.WriteString(ngxQuote(a))
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
		first, err := parseNginx(string(src))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		second, err := parseNginx(first.String())
		if err != nil {
			t.Fatalf("%s written back does not parse: %v\n%s", name, err, first)
		}
		if first.String() != second.String() || len(first.walk()) != len(second.walk()) {
			t.Errorf("%s changes when written back:\n%s\n---\n%s", name, first, second)
		}
	}
	d, err := parseNginx(`a "" 'b c' "d\"e" x\.y;`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.String(), `a "" "b c" "d\"e" x\.y;`+"\n"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
