package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	yaml "go.yaml.in/yaml/v4"

	"github.com/rp-project/rp/internal/nginxconf"
)

// identityHeaders are the headers rp tells the app who is signed in with,
// in proxy mode and in its /auth answers.
var identityHeaders = []string{"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Preferred-Username", "X-Forwarded-Groups"}

// forwardedRequestHeaders are the headers a forward-auth proxy describes
// the request it asks about with; rp reads them from RP_TRUSTED_PROXIES only.
var forwardedRequestHeaders = []string{"X-Forwarded-Method", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Uri"}

// fwdAnswerHeaders are the headers of rp-fwd's /auth answer the proxies
// copy onto the request to the app: the identity headers, and with
// RP_PASS_ACCESS_TOKEN the access token in Authorization.
func (s *stack) fwdAnswerHeaders() []string {
	if s.rpByName(rpFwdService).cfg.PassAccessToken {
		return append(slices.Clone(identityHeaders), "Authorization")
	}
	return identityHeaders
}

// fwdProxyEnv is the environment the demo gives a forward-auth proxy:
// rp-fwd's RP_FORWARD_AUTH_SECRET, which the Caddyfile and traefik.yml read
// from it.
func (s *stack) fwdProxyEnv(k string) string {
	if k == "RP_FORWARD_AUTH_SECRET" {
		return s.rpByName(rpFwdService).cfg.ForwardAuthSecret
	}
	return ""
}

const (
	forwardAuthDir = "forward-auth" // the snippets, below deploy/
	whoamiImage    = "traefik/whoami"
	whoamiPort     = "80" // whoami's port unless -port or WHOAMI_PORT_NUMBER says otherwise
)

// profileAdds checks that exactly services are in profile, in that one only,
// and that no profile is enabled by default.
func profileAdds(s *stack, profile string, services []string) error {
	want := slices.Sorted(slices.Values(append(slices.Clone(haServices), appServices...)))
	if got := s.base.DisabledServiceNames(); !slices.Equal(got, want) {
		return fmt.Errorf("services in a profile: %q, want %q", got, want)
	}
	var got []string
	for name, svc := range s.project.Services {
		if slices.Contains(svc.Profiles, profile) {
			got = append(got, name)
		}
	}
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(services)); !slices.Equal(got, want) {
		return fmt.Errorf("profile %s has %q, want %q", profile, got, want)
	}
	for _, name := range services {
		if p := s.project.Services[name].Profiles; !slices.Equal(p, []string{profile}) {
			return fmt.Errorf("service %s has profiles %q, want [%s]", name, p, profile)
		}
	}
	return nil
}

// whoamiListens is the port the whoami service listens on.
func whoamiListens(svc types.ServiceConfig) string {
	for _, flag := range []string{"-port", "--port"} {
		if p := argAfter(svc.Command, flag); p != "" {
			return p
		}
	}
	if p := envMap(svc.Environment)["WHOAMI_PORT_NUMBER"]; p != "" {
		return p
	}
	return whoamiPort
}

// appTarget checks that raw (an http URL of the app) names the whoami
// service on the port it listens on, and that from can reach it.
func (s *stack) appTarget(from types.ServiceConfig, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return fmt.Errorf("%q: want http://%s:%s", raw, whoamiService, whoamiPort)
	}
	svc, ok := s.project.Services[u.Hostname()]
	switch {
	case !ok:
		return fmt.Errorf("%q: host %q is not a compose service", raw, u.Hostname())
	case svc.Name != whoamiService:
		return fmt.Errorf("%q: want the demo app %s", raw, whoamiService)
	case portOf(u) != whoamiListens(svc):
		return fmt.Errorf("%q: port %s, but %s listens on %s", raw, portOf(u), svc.Name, whoamiListens(svc))
	case u.Path != "" && u.Path != "/":
		return fmt.Errorf("%q: want no path (the request's path passes unchanged)", raw)
	case !sharesNetwork(from, svc):
		return fmt.Errorf("%s has no network in common with %s", from.Name, svc.Name)
	case !enabledWith(svc, from):
		return fmt.Errorf("%s (profiles %q) is not started with %s (profiles %q)", svc.Name, svc.Profiles, from.Name, from.Profiles)
	}
	if _, ok := from.DependsOn[svc.Name]; !ok {
		return fmt.Errorf("%s does not depend on %s", from.Name, svc.Name)
	}
	return nil
}

// rpTarget checks that hostPort names rp-fwd on its RP_ADDR port.
func (s *stack) rpTarget(hostPort string) error {
	r := s.rpByName(rpFwdService)
	_, port, err := net.SplitHostPort(r.cfg.Addr)
	if err != nil {
		return fmt.Errorf("%s: RP_ADDR %q: %v", r.name, r.cfg.Addr, err)
	}
	if want := net.JoinHostPort(r.name, port); hostPort != want {
		return fmt.Errorf("rp at %s, want %s (service %s, RP_ADDR %q)", hostPort, want, r.name, r.cfg.Addr)
	}
	return nil
}

func (s *stack) fwdPrefix() string { return s.rpByName(rpFwdService).cfg.PathPrefix }

// TestApp checks profile app: whoami behind rp-app (proxy mode), and
// behind fwd-nginx asking rp-fwd (forward auth).
func TestApp(t *testing.T) {
	runChecks(t, []check{
		{"profile app adds whoami, rp-app, rp-fwd and fwd-nginx, in profile app only", func(s *stack) error {
			return profileAdds(s, appProfile, appServices)
		}},
		{"whoami is traefik/whoami, pinned, publishing no port", func(s *stack) error {
			svc := s.project.Services[whoamiService]
			repo, tag, _ := splitImage(svc.Image)
			if repo != whoamiImage && repo != "docker.io/"+whoamiImage {
				return fmt.Errorf("image %q: want %s (it echoes the request's headers)", svc.Image, whoamiImage)
			}
			if !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(tag) {
				return fmt.Errorf("image %q: want a full version tag such as v1.11.0", svc.Image)
			}
			if len(svc.Ports) > 0 {
				return fmt.Errorf("publishes %v: browsers must come through rp-app or fwd-nginx", svc.Ports)
			}
			return nil
		}},
		{"rp-app proxies to whoami", func(s *stack) error {
			r := s.rpByName(rpAppService)
			if r.cfg.Upstream != r.env["RP_UPSTREAM"] || r.cfg.Upstream == "" {
				return fmt.Errorf("RP_UPSTREAM=%q, rp read %q", r.env["RP_UPSTREAM"], r.cfg.Upstream)
			}
			return s.appTarget(r.svc, r.cfg.Upstream)
		}},
		{"rp-fwd has no upstream: fwd-nginx passes requests to the app", func(s *stack) error {
			if v := s.rpByName(rpFwdService).env["RP_UPSTREAM"]; v != "" {
				return fmt.Errorf("RP_UPSTREAM=%q: a forward-auth rp answers questions only", v)
			}
			return nil
		}},
		{"rp-app and rp-fwd keep their routes under a prefix", func(s *stack) error {
			for _, name := range []string{rpAppService, rpFwdService} {
				r := s.rpByName(name)
				if r.cfg.PathPrefix == "" || r.cfg.PathPrefix != r.env["RP_PATH_PREFIX"] {
					return fmt.Errorf("service %s: RP_PATH_PREFIX=%q (rp read %q): want one, or rp's routes shadow the app's", name, r.env["RP_PATH_PREFIX"], r.cfg.PathPrefix)
				}
			}
			return nil
		}},
		{"rp-app and rp-fwd name their cookies apart from every other rp", func(s *stack) error {
			// Browsers send cookies to every port of localhost.
			for _, name := range []string{rpAppService, rpFwdService} {
				r := s.rpByName(name)
				for _, o := range s.rps {
					if o.env["RP_BASE_URL"] != r.env["RP_BASE_URL"] && o.cfg.SessionCookieName == r.cfg.SessionCookieName {
						return fmt.Errorf("%s (%s) and %s (%s) both name their cookie %q", r.name, r.env["RP_BASE_URL"], o.name, o.env["RP_BASE_URL"], r.cfg.SessionCookieName)
					}
				}
			}
			return nil
		}},
		{"path rules name realm groups, with a demo user in and one out", eachRP(func(s *stack, r *rpSvc) error {
			groups := r.cfg.AllowedGroups
			for _, rule := range r.cfg.PathRules {
				groups = append(groups, rule.Groups...)
			}
			for _, g := range groups {
				if !slices.ContainsFunc(s.realm.Groups, func(rg groupRep) bool { return rg.Name == g }) {
					return fmt.Errorf("group %q is not a group of realm %s", g, s.realm.Realm)
				}
				var in, out []string
				for _, u := range s.realm.Users {
					if slices.Contains(u.Groups, "/"+g) {
						in = append(in, u.Username)
					} else {
						out = append(out, u.Username)
					}
				}
				if len(in) == 0 || len(out) == 0 {
					return fmt.Errorf("group %q: demo users in it %q, not in it %q; want at least one of each", g, in, out)
				}
			}
			return nil
		})},
		{"the groups claim rp reads is the one the client's mapper fills", eachRP(func(s *stack, r *rpSvc) error {
			c, err := s.client(r)
			if err != nil {
				return err
			}
			for _, m := range c.ProtocolMappers {
				if m.ProtocolMapper == "oidc-group-membership-mapper" && m.Config["claim.name"] == r.cfg.GroupsClaim {
					return nil
				}
			}
			return fmt.Errorf("RP_GROUPS_CLAIM is %q, but no group membership mapper of client %s fills it", r.cfg.GroupsClaim, c.ClientID)
		})},
		{"the client offers the scopes rp asks for", eachRP(func(s *stack, r *rpSvc) error {
			c, err := s.client(r)
			if err != nil {
				return err
			}
			def, opt := s.clientScopes(c)
			// Keycloak 25 and later put sub in the scope basic, which is
			// never asked for by name.
			if !slices.Contains(def, "basic") {
				return fmt.Errorf("client %s: default client scopes %q lack basic: tokens would have no sub", c.ClientID, def)
			}
			want := slices.DeleteFunc(slices.Clone(r.cfg.Scopes), func(sc string) bool { return sc == "openid" })
			if r.cfg.OfflineAccess {
				// Keycloak refuses a scope the client does not offer.
				want = append(want, "offline_access")
			}
			for _, sc := range want {
				if !slices.Contains(def, sc) && !slices.Contains(opt, sc) {
					return fmt.Errorf("client %s offers %q and %q, not %q, which rp asks for (RP_SCOPES, RP_OFFLINE_ACCESS)", c.ClientID, def, opt, sc)
				}
			}
			if slices.Contains(def, "offline_access") {
				return fmt.Errorf("client %s: offline_access is a default scope; keep it optional (rp asks for it when RP_OFFLINE_ACCESS is on)", c.ClientID)
			}
			return nil
		})},
		{"rp reached directly by browsers trusts no proxy", eachRP(func(s *stack, r *rpSvc) error {
			if len(r.svc.Ports) > 0 && len(r.cfg.TrustedProxies) > 0 {
				return fmt.Errorf("publishes %v, but RP_TRUSTED_PROXIES=%q: any client could claim another request's URI", r.svc.Ports, r.env["RP_TRUSTED_PROXIES"])
			}
			return nil
		})},
		{"rp-fwd trusts fwd-nginx's address only", func(s *stack) error {
			r := s.rpByName(rpFwdService)
			nginx := s.project.Services[fwdService]
			if len(nginx.Networks) != 1 {
				return fmt.Errorf("%s is on networks %q, want one (its address is what %s trusts)", fwdService, networks(nginx), r.name)
			}
			var netName string
			var cfg *types.ServiceNetworkConfig
			for n, c := range nginx.Networks {
				netName, cfg = n, c
			}
			if cfg == nil || cfg.Ipv4Address == "" {
				return fmt.Errorf("%s has no fixed ipv4_address on network %s", fwdService, netName)
			}
			addr, err := netip.ParseAddr(cfg.Ipv4Address)
			if err != nil {
				return fmt.Errorf("%s: ipv4_address %q: %v", fwdService, cfg.Ipv4Address, err)
			}
			nw, ok := s.project.Networks[netName]
			if !ok || len(nw.Ipam.Config) != 1 {
				return fmt.Errorf("network %s: want one ipam subnet (a fixed address needs one)", netName)
			}
			subnet, err := netip.ParsePrefix(nw.Ipam.Config[0].Subnet)
			if err != nil {
				return fmt.Errorf("network %s: subnet %q: %v", netName, nw.Ipam.Config[0].Subnet, err)
			}
			// Docker gives the network's first address to its gateway.
			if !subnet.Contains(addr) || addr == subnet.Masked().Addr() || addr == subnet.Masked().Addr().Next() {
				return fmt.Errorf("%s's address %s: want a host address of %s other than the gateway's", fwdService, addr, subnet)
			}
			if !slices.Equal(r.cfg.TrustedProxies, []netip.Prefix{netip.PrefixFrom(addr, 32)}) {
				return fmt.Errorf("RP_TRUSTED_PROXIES=%q, want exactly %s (%s's address; anything wider also trusts %s's other containers)", r.env["RP_TRUSTED_PROXIES"], addr, fwdService, netName)
			}
			if !slices.Contains(networks(r.svc), netName) {
				return fmt.Errorf("%s is not on network %s, where %s has its address", r.name, netName, fwdService)
			}
			return nil
		}},
		{"fwd-nginx image is the official nginx, pinned", func(s *stack) error {
			img := s.project.Services[fwdService].Image
			repo, tag, _ := splitImage(img)
			if repo != "nginx" && repo != "docker.io/library/nginx" {
				return fmt.Errorf("image %q: want the official nginx", img)
			}
			if !regexp.MustCompile(`^1\.\d+(\.\d+)?(-[a-z0-9.]+)?$`).MatchString(tag) {
				return fmt.Errorf("image %q: want a tag pinned to a minor version, e.g. nginx:1.28-alpine", img)
			}
			return nil
		}},
		{"fwd-nginx publishes only the port nginx listens on", fwdCheck(func(s *stack, a *authProxy) error {
			if len(a.svc.Ports) != 1 || int(a.svc.Ports[0].Target) != a.listen {
				return fmt.Errorf("ports %v, want one, to container port %d (nginx's listen)", a.svc.Ports, a.listen)
			}
			// Its host port is rp-fwd's RP_BASE_URL's: see TestCompose.
			return nil
		})},
		{"fwd-nginx waits for rp-fwd to be healthy and restarts unless stopped", fwdCheck(func(s *stack, a *authProxy) error {
			if dep, ok := a.svc.DependsOn[rpFwdService]; !ok || dep.Condition != types.ServiceConditionHealthy {
				return fmt.Errorf("depends_on: %+v, want %s: condition: service_healthy", a.svc.DependsOn, rpFwdService)
			}
			if a.svc.Restart != types.RestartPolicyUnlessStopped {
				return fmt.Errorf("restart: %q", a.svc.Restart)
			}
			return nil
		})},
		{"fwd-nginx passes rp's routes to rp-fwd, unchanged", fwdCheck(func(s *stack, a *authProxy) error {
			if a.prefix != s.fwdPrefix() {
				return fmt.Errorf("location %s/, but rp-fwd's RP_PATH_PREFIX is %q", a.prefix, s.fwdPrefix())
			}
			if err := s.rpTarget(a.rpPass.Host); err != nil {
				return fmt.Errorf("location %s/: %v", a.prefix, err)
			}
			if a.rpPass.Path != "" || a.rpPass.RawQuery != "" {
				return fmt.Errorf("location %s/: proxy_pass %s: want no path, so that rp sees the path the browser asked for", a.prefix, a.rpPass)
			}
			if !sharesNetwork(a.svc, s.project.Services[rpFwdService]) {
				return fmt.Errorf("no network in common with %s", rpFwdService)
			}
			set := a.rpLoc.SetHeaders()
			if set["host"] != "$http_host" {
				return fmt.Errorf("location %s/: proxy_set_header Host %q, want $http_host (the browser's host, for rp's pages)", a.prefix, set["host"])
			}
			for _, h := range []string{"x-forwarded-method", "x-forwarded-uri"} {
				if v, ok := set[h]; !ok || v != "" {
					return fmt.Errorf(`location %s/: want proxy_set_header %s "" (rp believes this proxy: a client's must not pass), got %q`, a.prefix, h, v)
				}
			}
			if set["x-forwarded-proto"] != "$scheme" {
				return fmt.Errorf("location %s/: proxy_set_header X-Forwarded-Proto %q, want $scheme", a.prefix, set["x-forwarded-proto"])
			}
			if v := set[strings.ToLower(forwardAuthSecretHeader)]; v != "" {
				return fmt.Errorf("location %s/: proxy_set_header %s %q: a browser's own call to %s/auth would pass for nginx's", a.prefix, forwardAuthSecretHeader, v, a.prefix)
			}
			r := s.rpByName(rpFwdService)
			for _, name := range []string{"proxy_read_timeout", "proxy_send_timeout"} {
				got := 60 * time.Second
				if d := a.rpLoc.Inherited(name); len(d) > 0 && len(d[0].Args) == 1 {
					var err error
					if got, err = nginxconf.Duration(d[0].Args[0]); err != nil {
						return fmt.Errorf("%s: %v", name, err)
					}
				}
				if wt := writeTimeout(r.cfg.ProviderTimeout); got <= wt {
					return fmt.Errorf("%s %s, but a sign-in at rp-fwd may take %s to answer (3 * RP_PROVIDER_TIMEOUT + 30s)", name, got, wt)
				}
			}
			return nil
		})},
		{"fwd-nginx asks rp-fwd's /auth about every request, describing it", fwdCheck(func(s *stack, a *authProxy) error {
			loc := "location = " + a.authLoc.Args[1]
			if len(a.authLoc.All("internal")) != 1 {
				return fmt.Errorf("%s: want internal (browsers must not reach it)", loc)
			}
			if err := s.rpTarget(a.authPass.Host); err != nil {
				return fmt.Errorf("%s: %v", loc, err)
			}
			if want := s.fwdPrefix() + "/auth"; a.authPass.Path != want {
				return fmt.Errorf("%s: proxy_pass path %q, want %q", loc, a.authPass.Path, want)
			}
			// auth_request understands 2xx, 401 and 403 only: a browser's
			// sign-in redirect must come as a 401 with Location.
			if q := a.authPass.Query(); q.Get("status") != "401" {
				return fmt.Errorf("%s: proxy_pass %s: want ?status=401", loc, a.authPass)
			}
			if a.authLoc.Arg("proxy_pass_request_body") != "off" {
				return fmt.Errorf("%s: want proxy_pass_request_body off", loc)
			}
			if v := a.authLoc.Inherited("proxy_pass_request_headers"); len(v) > 0 && v[0].Args[0] == "off" {
				return fmt.Errorf("%s: proxy_pass_request_headers off: rp needs the browser's Cookie and Accept", loc)
			}
			set := a.authLoc.SetHeaders()
			want := map[string][]string{
				"content-length":     {""},
				"x-forwarded-method": {"$request_method"},
				"x-forwarded-proto":  {"$scheme"},
				"x-forwarded-host":   {"$http_host", "$host"},
				"x-forwarded-uri":    {"$request_uri"},
			}
			for h, vs := range want {
				if v, ok := set[h]; !ok || !slices.Contains(vs, v) {
					return fmt.Errorf("%s: proxy_set_header %s %q, want one of %q", loc, h, v, vs)
				}
			}
			if v, ok := set["cookie"]; ok {
				return fmt.Errorf("%s: proxy_set_header Cookie %q: rp needs the browser's cookie", loc, v)
			}
			if r := s.rpByName(rpFwdService); r.cfg.ForwardAuthSecret != "" {
				secret, err := a.forwardAuthSecret()
				if err != nil {
					return err
				}
				if secret != r.cfg.ForwardAuthSecret {
					return fmt.Errorf("%s: sends %s other than %s's RP_FORWARD_AUTH_SECRET", loc, forwardAuthSecretHeader, r.name)
				}
			}
			return nil
		})},
		{"rp-fwd passes the access token only with a forward-auth secret", func(s *stack) error {
			r := s.rpByName(rpFwdService)
			if r.cfg.PassAccessToken && r.cfg.ForwardAuthSecret == "" {
				return errors.New("RP_PASS_ACCESS_TOKEN=true without RP_FORWARD_AUTH_SECRET: /auth would never send the token")
			}
			if r.cfg.ForwardAuthSecret != "" && r.env["RP_FORWARD_AUTH_SECRET"] != "" {
				return errors.New("RP_FORWARD_AUTH_SECRET is set in the environment; use RP_FORWARD_AUTH_SECRET_FILE and a compose secret")
			}
			return nil
		}},
		{"fwd-nginx passes rp's identity headers, and only those, to whoami", fwdCheck(func(s *stack, a *authProxy) error {
			if err := s.appTarget(a.svc, a.appPass.String()); err != nil {
				return fmt.Errorf("location /: proxy_pass: %v", err)
			}
			set := a.appLoc.SetHeaders()
			for _, h := range s.fwdAnswerHeaders() {
				v := a.headerVar(h)
				if v == "" {
					return fmt.Errorf("location /: no auth_request_set $VAR $upstream_http_%s", strings.ReplaceAll(strings.ToLower(h), "-", "_"))
				}
				// proxy_set_header also keeps the client's header of that
				// name from the app, even when rp sends none.
				if set[strings.ToLower(h)] != v {
					return fmt.Errorf("location /: proxy_set_header %s %q, want %s (rp's answer)", h, set[strings.ToLower(h)], v)
				}
			}
			for _, d := range a.conf.Walk() {
				if d.Name == "underscores_in_headers" && slices.Equal(d.Args, []string{"on"}) {
					return errors.New("underscores_in_headers on: X_Forwarded_User from a client would reach the app")
				}
			}
			if v := a.appLoc.Inherited("proxy_pass_request_headers"); len(v) > 0 && v[0].Args[0] == "off" {
				return errors.New("location /: proxy_pass_request_headers off")
			}
			return nil
		})},
		{"fwd-nginx sends browsers to rp's sign-in and API clients a 401", fwdCheck(func(s *stack, a *authProxy) error {
			login := a.headerVar("location")
			if login == "" {
				return errors.New("location /: no auth_request_set $VAR $upstream_http_location (rp's sign-in URL)")
			}
			var named *nginxconf.Directive
			for _, e := range a.appLoc.All("error_page") {
				if len(e.Args) == 3 && e.Args[0] == "401" && e.Args[1] == "=" && strings.HasPrefix(e.Args[2], "@") {
					named = a.server.Location(e.Args[2])
				}
			}
			if named == nil {
				return errors.New("location /: want error_page 401 = @NAMED, and that location")
			}
			var redirects, unauthorized bool
			for _, d := range named.Walk() {
				if d.Name == "return" && slices.Equal(d.Args, []string{"302", login}) && d.Parent == named {
					redirects = true
				}
				if d.Name == "return" && slices.Equal(d.Args, []string{"401"}) && d.Parent.Name == "if" && ngxCondition(d.Parent) == "("+login+`="")` {
					unauthorized = true
				}
			}
			if !redirects || !unauthorized {
				return fmt.Errorf(`location %s: want return 302 %s, and return 401 inside if (%s = "")`, named.Args[0], login, login)
			}
			return nil
		})},
		{"fwd-nginx has just these locations", fwdCheck(func(s *stack, a *authProxy) error {
			for _, l := range a.server.All("location") {
				if l != a.rpLoc && l != a.authLoc && l != a.appLoc && !strings.HasPrefix(l.Args[0], "@") {
					return fmt.Errorf("location %s: every path is the app's (location /) or rp's (%s/)", strings.Join(l.Args, " "), a.prefix)
				}
			}
			return nil
		})},
	})
}

func fwdCheck(fn func(s *stack, a *authProxy) error) func(s *stack) error {
	return func(s *stack) error {
		if s.fwdErr != nil {
			return s.fwdErr
		}
		return fn(s, s.fwd)
	}
}

// clientScopes is what Keycloak links to c after the import: its own
// lists when it has either, or else the realm's defaults.
func (s *stack) clientScopes(c clientRep) (def, opt []string) {
	if c.DefaultClientScopes != nil || c.OptionalClientScopes != nil {
		return c.DefaultClientScopes, c.OptionalClientScopes
	}
	def, opt = s.realm.DefaultDefaultClientScopes, s.realm.DefaultOptionalClientScopes
	if s.realm.ClientScopes == nil {
		// Keycloak 26's built-in client scopes of a new realm.
		if def == nil {
			def = []string{"acr", "basic", "email", "profile", "roles", "web-origins"}
		}
		if opt == nil {
			opt = []string{"address", "microprofile-jwt", "offline_access", "organization", "phone"}
		}
	}
	return def, opt
}

// --- Caddyfile (enough of the syntax for the checks) ---

// caddyDirective is one line of a Caddyfile and the block it opens.
type caddyDirective struct {
	name   string
	args   []string
	block  []*caddyDirective // nil when the line opens none
	parent *caddyDirective
	line   int
}

func (d *caddyDirective) all(name string) []*caddyDirective {
	var out []*caddyDirective
	for _, c := range d.block {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

func (d *caddyDirective) walk() []*caddyDirective {
	var out []*caddyDirective
	for _, c := range d.block {
		out = append(out, c)
		out = append(out, c.walk()...)
	}
	return out
}

// parseCaddyfile parses Caddyfile syntax: a directive per line, a block
// opened by { at the end of a line and closed by } alone on one, # comments
// at the start of a token, "double" and `backtick` quotes. Placeholders
// such as {uri} are ordinary tokens.
func parseCaddyfile(src string) (*caddyDirective, error) {
	root := &caddyDirective{name: "", block: []*caddyDirective{}}
	cur := root
	for n, line := range strings.Split(src, "\n") {
		toks, err := caddyTokens(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n+1, err)
		}
		switch {
		case len(toks) == 0:
			continue
		case len(toks) == 1 && toks[0] == "}":
			if cur == root {
				return nil, fmt.Errorf("line %d: unexpected }", n+1)
			}
			cur = cur.parent
			continue
		case slices.Contains(toks[:len(toks)-1], "{") || slices.Contains(toks, "}"):
			return nil, fmt.Errorf("line %d: { only at the end of a line, } alone on one", n+1)
		}
		d := &caddyDirective{name: toks[0], args: toks[1:], parent: cur, line: n + 1}
		if toks[len(toks)-1] == "{" {
			d.block = []*caddyDirective{}
			if len(toks) == 1 {
				d.name, d.args = "", nil // a global options block
			} else {
				d.args = toks[1 : len(toks)-1]
			}
		}
		cur.block = append(cur.block, d)
		if d.block != nil {
			cur = d
		}
	}
	if cur != root {
		return nil, fmt.Errorf("block %q (line %d) is not closed", cur.name, cur.line)
	}
	return root, nil
}

func caddyTokens(line string) ([]string, error) {
	var toks []string
	for i := 0; i < len(line); {
		switch c := line[i]; {
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			return toks, nil
		case c == '"' || c == '`':
			j := i + 1
			var b strings.Builder
			for ; j < len(line) && line[j] != c; j++ {
				if c == '"' && line[j] == '\\' && j+1 < len(line) {
					j++
				}
				b.WriteByte(line[j])
			}
			if j >= len(line) {
				return nil, fmt.Errorf("unterminated %c", c)
			}
			toks = append(toks, b.String())
			i = j + 1
		default:
			j := i
			for j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '\r' {
				j++
			}
			toks = append(toks, line[i:j])
			i = j
		}
	}
	return toks, nil
}

// caddyAuth is what the forward-auth Caddyfile says.
type caddyAuth struct {
	root     *caddyDirective
	site     *caddyDirective
	rpHandle *caddyDirective // handle PREFIX/*
	rpProxy  *caddyDirective // its reverse_proxy
	route    *caddyDirective // the route holding forward_auth
	auth     *caddyDirective // forward_auth
	app      *caddyDirective // the reverse_proxy after it
}

func parseCaddyAuth(src string) (*caddyAuth, error) {
	root, err := parseCaddyfile(src)
	if err != nil {
		return nil, err
	}
	c := &caddyAuth{root: root}
	var sites []*caddyDirective
	for _, d := range root.block {
		if d.name != "" {
			sites = append(sites, d)
		}
	}
	if len(sites) != 1 || sites[0].block == nil {
		return nil, fmt.Errorf("%d site blocks, want 1", len(sites))
	}
	c.site = sites[0]
	for _, d := range c.site.walk() {
		switch d.name {
		case "forward_auth":
			if c.auth != nil {
				return nil, fmt.Errorf("line %d: a second forward_auth", d.line)
			}
			c.auth = d
		case "handle":
			if len(d.args) == 1 && strings.HasSuffix(d.args[0], "/*") {
				c.rpHandle = d
			}
		}
	}
	if c.auth == nil || c.auth.block == nil || len(c.auth.args) != 1 {
		return nil, errors.New("want one forward_auth UPSTREAM { ... }")
	}
	if c.route = c.auth.parent; c.route.name != "route" {
		return nil, fmt.Errorf("line %d: forward_auth is in %q, want a route block (which keeps the order as written)", c.auth.line, c.route.name)
	}
	i := slices.Index(c.route.block, c.auth)
	for _, d := range c.route.block[i+1:] {
		if d.name == "reverse_proxy" {
			c.app = d
			break
		}
	}
	if c.app == nil || len(c.app.args) != 1 {
		return nil, errors.New("want reverse_proxy APP after forward_auth in its route")
	}
	if c.rpHandle == nil {
		return nil, errors.New("want handle PREFIX/* { reverse_proxy RP } for rp's own routes")
	}
	if ps := c.rpHandle.all("reverse_proxy"); len(ps) == 1 && len(ps[0].args) == 1 {
		c.rpProxy = ps[0]
	} else {
		return nil, fmt.Errorf("handle %s: want one reverse_proxy RP", c.rpHandle.args[0])
	}
	return c, nil
}

// sub is the arguments of d's subdirectives called name, one slice each.
func (d *caddyDirective) sub(name string) [][]string {
	var out [][]string
	for _, c := range d.all(name) {
		out = append(out, c.args)
	}
	return out
}

// --- Traefik dynamic configuration (the fields used) ---

type traefikDynamic struct {
	HTTP struct {
		Routers     map[string]traefikRouter     `yaml:"routers"`
		Middlewares map[string]traefikMiddleware `yaml:"middlewares"`
		Services    map[string]traefikService    `yaml:"services"`
	} `yaml:"http"`
}

type traefikRouter struct {
	Rule        string   `yaml:"rule"`
	Priority    int      `yaml:"priority"`
	Middlewares []string `yaml:"middlewares"`
	Service     string   `yaml:"service"`
	EntryPoints []string `yaml:"entryPoints"`
}

type traefikMiddleware struct {
	ForwardAuth *traefikForwardAuth `yaml:"forwardAuth"`
	Headers     *struct {
		CustomRequestHeaders map[string]string `yaml:"customRequestHeaders"`
	} `yaml:"headers"`
}

type traefikForwardAuth struct {
	Address             string   `yaml:"address"`
	TrustForwardHeader  *bool    `yaml:"trustForwardHeader"`
	AuthResponseHeaders []string `yaml:"authResponseHeaders"`
	AuthRequestHeaders  []string `yaml:"authRequestHeaders"`
}

type traefikService struct {
	LoadBalancer struct {
		Servers []struct {
			URL string `yaml:"url"`
		} `yaml:"servers"`
	} `yaml:"loadBalancer"`
}

// parseTraefik reads a dynamic configuration file as Traefik's file
// provider does: first a Go template (with sprig's functions; env, the one
// used here, reads getenv), then YAML.
func parseTraefik(src []byte, getenv func(string) string) (*traefikDynamic, error) {
	tmpl, err := template.New("traefik.yml").Option("missingkey=error").
		Funcs(template.FuncMap{"env": getenv}).Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("as a template: %v", err)
	}
	var rendered bytes.Buffer
	if err := tmpl.Execute(&rendered, nil); err != nil {
		return nil, fmt.Errorf("as a template: %v", err)
	}
	var d traefikDynamic
	dec := yaml.NewDecoder(&rendered)
	dec.KnownFields(true) // a misspelt key fails here rather than being ignored by Traefik
	if err := dec.Decode(&d); err != nil {
		return nil, err
	}
	return &d, nil
}

// pathPrefixRule matches a rule PathPrefix(`/x`), the only kind used.
var pathPrefixRule = regexp.MustCompile("^PathPrefix\\(`([^`]+)`\\)$")

// serviceURL is the one server URL of service name.
func (d *traefikDynamic) serviceURL(name string) (*url.URL, error) {
	svc, ok := d.HTTP.Services[name]
	if !ok || len(svc.LoadBalancer.Servers) != 1 {
		return nil, fmt.Errorf("service %q: want one loadBalancer server", name)
	}
	return url.Parse(svc.LoadBalancer.Servers[0].URL)
}

// forwardAuth is the router's ForwardAuth middleware and its name.
func (d *traefikDynamic) forwardAuth(r traefikRouter) (string, *traefikForwardAuth) {
	for _, m := range r.Middlewares {
		if mw, ok := d.HTTP.Middlewares[m]; ok && mw.ForwardAuth != nil {
			return m, mw.ForwardAuth
		}
	}
	return "", nil
}

// --- the snippets ---

type snippets struct {
	nginx   *authProxy
	caddy   *caddyAuth
	traefik *traefikDynamic
}

func readSnippet(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(forwardAuthDir, name))
	return string(b), err
}

func TestForwardAuthSnippets(t *testing.T) {
	s := loadStack(t)
	prefix := s.fwdPrefix()
	hostPort := func(u *url.URL) string { return net.JoinHostPort(u.Hostname(), portOf(u)) }

	t.Run("nginx.conf is the one fwd-nginx mounts", func(t *testing.T) {
		if s.fwdErr != nil {
			t.Fatal(s.fwdErr)
		}
		abs, _ := filepath.Abs(filepath.Join(forwardAuthDir, "nginx.conf"))
		if filepath.Clean(s.fwd.confPath) != abs {
			t.Errorf("%s mounts %s, want %s (the snippet the README shows)", fwdService, s.fwd.confPath, abs)
		}
	})

	t.Run("Caddyfile", func(t *testing.T) {
		src, err := readSnippet("Caddyfile")
		if err != nil {
			t.Fatal(err)
		}
		c, err := parseCaddyAuth(src)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.rpHandle.args[0]; got != prefix+"/*" {
			t.Errorf("handle %s, want %s/* (rp-fwd's RP_PATH_PREFIX)", got, prefix)
		}
		if err := s.rpTarget(c.rpProxy.args[0]); err != nil {
			t.Errorf("handle %s: reverse_proxy: %v", c.rpHandle.args[0], err)
		}
		for _, h := range []string{"X-Forwarded-Method", "X-Forwarded-Uri"} {
			if !slices.ContainsFunc(c.rpProxy.sub("header_up"), func(a []string) bool { return slices.Equal(a, []string{"-" + h}) }) {
				t.Errorf("handle %s: reverse_proxy wants header_up -%s (rp believes this proxy: a client's must not pass)", c.rpHandle.args[0], h)
			}
		}
		if err := s.rpTarget(c.auth.args[0]); err != nil {
			t.Errorf("forward_auth: %v", err)
		}
		if uri := c.auth.sub("uri"); len(uri) != 1 || !slices.Equal(uri[0], []string{prefix + "/auth"}) {
			t.Errorf("forward_auth uri %q, want %s/auth", uri, prefix)
		}
		var copied []string
		for _, a := range c.auth.sub("copy_headers") {
			copied = append(copied, a...)
		}
		if want := s.fwdAnswerHeaders(); !slices.Equal(slices.Sorted(slices.Values(copied)), slices.Sorted(slices.Values(want))) {
			t.Errorf("copy_headers %q, want %q", copied, want)
		}
		// The proof that a question is Caddy's own goes with forward_auth
		// alone, never with rp's own routes.
		proof := []string{forwardAuthSecretHeader, "{env.RP_FORWARD_AUTH_SECRET}"}
		if s.rpByName(rpFwdService).cfg.ForwardAuthSecret != "" && !slices.ContainsFunc(c.auth.sub("header_up"), func(a []string) bool { return slices.Equal(a, proof) }) {
			t.Errorf("forward_auth wants header_up %s (RP_FORWARD_AUTH_SECRET, from Caddy's environment)", strings.Join(proof, " "))
		}
		for _, a := range c.rpProxy.sub("header_up") {
			if len(a) > 0 && strings.EqualFold(strings.TrimLeft(a[0], "+"), forwardAuthSecretHeader) {
				t.Errorf("handle %s: header_up %q: a browser's own call to %s/auth would pass for Caddy's", c.rpHandle.args[0], a, prefix)
			}
		}
		// Before forward_auth in its route: delete the client's.
		before := c.route.block[:slices.Index(c.route.block, c.auth)]
		if s.rpByName(rpFwdService).cfg.PassAccessToken && !slices.ContainsFunc(before, func(d *caddyDirective) bool {
			return d.name == "request_header" && slices.Equal(d.args, []string{"-Authorization"})
		}) {
			t.Error("route: want request_header -Authorization before forward_auth (Caddy 2.6 keeps a client's header that rp's answer lacks)")
		}
		for _, h := range identityHeaders {
			for _, spelling := range []string{h, strings.ReplaceAll(h, "-", "_")} {
				if !slices.ContainsFunc(before, func(d *caddyDirective) bool {
					return d.name == "request_header" && slices.Equal(d.args, []string{"-" + spelling})
				}) {
					t.Errorf("route: want request_header -%s before forward_auth (Caddy 2.6 keeps a client's header that rp's answer lacks)", spelling)
				}
			}
		}
		u, err := url.Parse("http://" + c.app.args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := s.appTarget(s.project.Services[fwdService], "http://"+hostPort(u)); err != nil {
			t.Errorf("reverse_proxy %s: %v", c.app.args[0], err)
		}
	})

	t.Run("traefik.yml", func(t *testing.T) {
		src, err := readSnippet("traefik.yml")
		if err != nil {
			t.Fatal(err)
		}
		d, err := parseTraefik([]byte(src), s.fwdProxyEnv)
		if err != nil {
			t.Fatalf("traefik.yml: %v", err)
		}
		var rpRouter, appRouter string
		for name, r := range d.HTTP.Routers {
			m := pathPrefixRule.FindStringSubmatch(r.Rule)
			switch {
			case m == nil:
				t.Errorf("router %s: rule %q, want PathPrefix(`...`)", name, r.Rule)
			case m[1] == prefix+"/":
				rpRouter = name
			case m[1] == "/":
				appRouter = name
			default:
				t.Errorf("router %s: rule %q: every path is the app's or rp's (%s/)", name, r.Rule, prefix)
			}
		}
		if rpRouter == "" || appRouter == "" {
			t.Fatalf("routers %v: want one for PathPrefix(`%s/`) and one for PathPrefix(`/`)", d.HTTP.Routers, prefix)
		}
		rr, ar := d.HTTP.Routers[rpRouter], d.HTTP.Routers[appRouter]
		if rr.Priority <= ar.Priority {
			t.Errorf("router %s has priority %d, not above %s's %d", rpRouter, rr.Priority, appRouter, ar.Priority)
		}
		if name, _ := d.forwardAuth(rr); name != "" {
			t.Errorf("router %s uses %s: rp's own routes (sign-in) must not need a session", rpRouter, name)
		}
		if u, err := d.serviceURL(rr.Service); err != nil {
			t.Error(err)
		} else if err := s.rpTarget(hostPort(u)); err != nil || u.Path != "" {
			t.Errorf("router %s: service %s at %s: %v (want no path)", rpRouter, rr.Service, u, err)
		}
		if u, err := d.serviceURL(ar.Service); err != nil {
			t.Error(err)
		} else if err := s.appTarget(s.project.Services[fwdService], u.String()); err != nil {
			t.Errorf("router %s: service %s: %v", appRouter, ar.Service, err)
		}
		name, fa := d.forwardAuth(ar)
		if fa == nil {
			t.Fatalf("router %s has no forwardAuth middleware", appRouter)
		}
		u, err := url.Parse(fa.Address)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.rpTarget(hostPort(u)); err != nil {
			t.Errorf("middleware %s: address: %v", name, err)
		}
		if u.Path != prefix+"/auth" || u.RawQuery != "" {
			t.Errorf("middleware %s: address %s, want path %s/auth", name, fa.Address, prefix)
		}
		if fa.TrustForwardHeader == nil || *fa.TrustForwardHeader {
			t.Errorf("middleware %s: want trustForwardHeader: false, explicitly", name)
		}
		if want := s.fwdAnswerHeaders(); !slices.Equal(slices.Sorted(slices.Values(fa.AuthResponseHeaders)), slices.Sorted(slices.Values(want))) {
			t.Errorf("middleware %s: authResponseHeaders %q, want %q", name, fa.AuthResponseHeaders, want)
		}
		// The proof that a question is Traefik's own: set before
		// ForwardAuth (which sends the request's headers to rp), removed
		// after it (never to the app), never on rp's own routes.
		secretSet := func(mws []string) (value string, set bool) {
			for _, m := range mws {
				if mw := d.HTTP.Middlewares[m]; mw.Headers != nil {
					for h, v := range mw.Headers.CustomRequestHeaders {
						if strings.EqualFold(h, forwardAuthSecretHeader) {
							value, set = v, true
						}
					}
				}
			}
			return value, set
		}
		i := slices.Index(ar.Middlewares, name)
		if secret := s.rpByName(rpFwdService).cfg.ForwardAuthSecret; secret != "" {
			if v, _ := secretSet(ar.Middlewares[:i]); v != secret {
				t.Errorf("router %s: want a headers middleware before %s setting %s to RP_FORWARD_AUTH_SECRET ('{{ env \"RP_FORWARD_AUTH_SECRET\" }}')", appRouter, name, forwardAuthSecretHeader)
			}
			if v, set := secretSet(ar.Middlewares[i+1:]); !set || v != "" {
				t.Errorf("router %s: want a headers middleware after %s removing %s (\"\"), so that the app never gets it", appRouter, name, forwardAuthSecretHeader)
			}
		}
		if v, set := secretSet(rr.Middlewares); set && v != "" {
			t.Errorf("router %s sets %s: a browser's own call to %s/auth would pass for Traefik's", rpRouter, forwardAuthSecretHeader, prefix)
		}
		if len(fa.AuthRequestHeaders) > 0 {
			t.Errorf("middleware %s: authRequestHeaders %q: rp needs the browser's Cookie, Accept and Sec-Fetch-*", name, fa.AuthRequestHeaders)
		}
		// The underscore spellings, before the auth.
		strip := map[string]bool{}
		for _, m := range ar.Middlewares[:slices.Index(ar.Middlewares, name)] {
			if mw := d.HTTP.Middlewares[m]; mw.Headers != nil {
				for h, v := range mw.Headers.CustomRequestHeaders {
					if v == "" {
						strip[strings.ToLower(h)] = true
					}
				}
			}
		}
		for _, h := range identityHeaders {
			if u := strings.ReplaceAll(h, "-", "_"); !strip[strings.ToLower(u)] {
				t.Errorf("router %s: want a headers middleware before %s with customRequestHeaders %s: \"\"", appRouter, name, u)
			}
		}
	})
}

func TestParseCaddyfile(t *testing.T) {
	root, err := parseCaddyfile("{\n\tadmin off\n}\n# comment\nhttp://:80 {\n\troute {\n\t\tforward_auth a:1 { # c\n\t\t\turi \"/x y\"\n\t\t}\n\t\theader_up X {uri}\n\t}\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(root.block) != 2 || root.block[0].name != "" || root.block[1].name != "http://:80" {
		t.Fatalf("top level: %+v", root.block)
	}
	fa := root.block[1].block[0].block[0]
	if fa.name != "forward_auth" || !slices.Equal(fa.args, []string{"a:1"}) || fa.block[0].args[0] != "/x y" {
		t.Errorf("forward_auth: %+v", fa)
	}
	if h := root.block[1].block[0].block[1]; !slices.Equal(h.args, []string{"X", "{uri}"}) {
		t.Errorf("placeholder: %+v", h)
	}
	for _, bad := range []string{"a {", "}", "a { b }", `x "unterminated`} {
		if _, err := parseCaddyfile(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestRPHealthCheck runs each rp service's compose health check, the real
// `rp healthcheck` built from cmd/rp, with the service's settings against a
// stand-in for rp: it must ask rp's own /readyz under RP_PATH_PREFIX. (Behind
// RP_UPSTREAM, /readyz without the prefix is the app's, which answers 200
// whether rp is ready or not; without an upstream it is a 404 forever, and
// fwd-nginx, waiting for rp-fwd to be healthy, never starts.)
func TestRPHealthCheck(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command here to build cmd/rp")
	}
	s := loadStack(t)
	bin := filepath.Join(t.TempDir(), "rp")
	build := exec.Command(goBin, "build", "-o", bin, "./cmd/rp")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/rp: %v\n%s", err, out)
	}
	for _, r := range s.rps {
		t.Run(r.name, func(t *testing.T) {
			if hc := r.svc.HealthCheck; hc == nil || strings.Join(hc.Test, " ") != "CMD /rp healthcheck" {
				t.Fatalf("health check %+v, want [CMD /rp healthcheck]", hc)
			}
			var asked []string
			var mu sync.Mutex
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				mu.Lock()
				asked = append(asked, req.URL.Path)
				mu.Unlock()
				io.WriteString(w, "ok") // as an app behind rp would answer any path
			}))
			defer srv.Close()
			env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
			for k, v := range r.env {
				if k == "RP_ADDR" {
					continue
				}
				if strings.HasPrefix(k, "RP_") && strings.HasSuffix(k, "_FILE") {
					host, err := secretHostPath(s.project, r.svc, k, v)
					if err != nil {
						t.Fatal(err)
					}
					v = host
				}
				env = append(env, k+"="+v)
			}
			env = append(env, "RP_ADDR="+srv.Listener.Addr().String())
			cmd := exec.Command(bin, "healthcheck")
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("rp healthcheck against a ready stand-in: %v\n%s", err, out)
			}
			want := r.cfg.PathPrefix + "/readyz"
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(asked, []string{want}) {
				t.Errorf("rp healthcheck asked %q, want %q (RP_PATH_PREFIX %q)", asked, want, r.cfg.PathPrefix)
			}
		})
	}
}
