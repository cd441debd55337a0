package keycloak

// The compose recipe, run for real without containers: for each profile of
// docker-compose.yml, its services start on loopback from their compose
// definitions (compose_services_test.go) next to the shared Keycloak, which
// runs as the keycloak service does, and a browser walks the admin's first
// five minutes exactly as the file's header comments promise them.

import (
	"encoding/json"
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	xhtml "golang.org/x/net/html"
)

// front is an address the compose header sends admins to.
type front struct {
	kc     *keycloak
	name   string       // what the header calls it
	url    string       // its published URL, mapped to loopback
	start  string       // the page the admin opens: rp's /profile, or the app
	rpPath string       // where rp's own routes are (RP_PATH_PREFIX)
	client string       // the realm client of the rp behind it (clientId)
	rps    []*composeRP // the rp instances behind it
	token  bool         // whoami gets the access token (RP_PASS_ACCESS_TOKEN)
}

// TestCompose runs each compose profile and walks the admin's first five
// minutes through it: sign in at the published URL with the demo realm's
// users (the password is asked), see the profile (or the app with the
// identity headers), log out through Keycloak, sign in again (the password
// is asked again); and a logout started at Keycloak (an admin signing a
// user out) ends the rp session too, through the back-channel URL the
// realm registers.
func TestCompose(t *testing.T) {
	kc := needKeycloak(t)
	t.Parallel()
	demo := loadDemoRealm(t, kc)
	alice, bob := demo.user(t, kc, "alice"), demo.user(t, kc, "bob")

	t.Run("default", func(t *testing.T) {
		t.Parallel()
		s := startCompose(t, kc, "")
		f := s.front(t, front{name: "rp", url: "http://localhost:8000", start: "/profile"}, "rp")
		b := newBrowser(t)
		wantProfile(t, f, f.signIn(t, b, alice), alice, "admins")
		f.logOut(t, b, alice)
		wantProfile(t, f, f.signIn(t, b, alice), alice, "admins")

		f.providerLogout(t, demo, nil)
	})

	t.Run("ha", func(t *testing.T) {
		t.Parallel()
		s := startCompose(t, kc, "ha")
		lb := s.balancer(t, "rp-lb", "rp-a", "rp-b")
		f := s.front(t, front{name: "rp-lb (rp-a and rp-b)", url: "http://localhost:8001", start: "/profile"}, "rp-a", "rp-b")
		b := newBrowser(t)
		wantProfile(t, f, f.signIn(t, b, bob), bob, "users")
		lb.bothServe(t, f, b, bob)
		f.logOut(t, b, bob)
		wantProfile(t, f, f.signIn(t, b, bob), bob, "users")
		lb.bothServe(t, f, b, bob)

		f.providerLogout(t, demo, lb)
	})

	t.Run("app", func(t *testing.T) {
		t.Parallel()
		s := startCompose(t, kc, "app")
		fronts := []front{
			s.front(t, front{name: "rp-app (proxy mode)", url: "http://localhost:8002", start: "/", rpPath: "/_rp"}, "rp-app"),
			s.front(t, front{name: "fwd-nginx + rp-fwd (forward auth)", url: "http://localhost:8003", start: "/", rpPath: "/_rp", token: true}, "rp-fwd"),
		}
		for _, f := range fronts {
			t.Run(f.name, func(t *testing.T) {
				t.Parallel()
				b := newBrowser(t)
				wantIdentity(t, f, f.signIn(t, b, alice), alice, "admins")
				wantIdentity(t, f, b.Get(t, f.url+"/admin"), alice, "admins")
				f.logOut(t, b, alice)
				wantIdentity(t, f, f.signIn(t, b, alice), alice, "admins")

				b = newBrowser(t)
				wantIdentity(t, f, f.signIn(t, b, bob), bob, "users")
				if p := b.Get(t, f.url+"/admin"); p.Status != http.StatusForbidden {
					t.Errorf("%s: bob (group users) opened /admin: want 403 (RP_PATH_RULES /admin=admins), got %s", f.name, f.summary(p))
				}

				f.providerLogout(t, demo, nil)
			})
		}
	})
}

// front completes f: the URL the compose header names, mapped to
// loopback, and the rp services behind it.
func (s *composeStack) front(t testing.TB, f front, rps ...string) front {
	t.Helper()
	f.kc, f.url = s.kc, published(t, s.kc, f.url)
	for _, name := range rps {
		f.rps = append(f.rps, s.rp(t, name))
	}
	f.client = f.rps[0].env["RP_CLIENT_ID"]
	return f
}

// published maps a URL the compose header names (http://localhost:8000) to
// loopback, failing when no service publishes its port any more.
func published(t testing.TB, kc *keycloak, u string) string {
	t.Helper()
	mapped := kc.Net.Rewrite(u)
	if mapped == u {
		t.Fatalf("the compose header sends admins to %s, but no service of docker-compose.yml publishes that port", u)
	}
	return mapped
}

func (s *composeStack) rp(t testing.TB, name string) *composeRP {
	t.Helper()
	r, ok := s.rps[name]
	if !ok {
		t.Fatalf("profile %q has no rp service %s", s.profile, name)
	}
	return r
}

// --- the walk ---

// signIn opens f's start page in b, which is not signed in at f: it must
// lead to Keycloak's login form (the password is asked), and once u has
// logged in, back to the start page. It returns that page.
func (f front) signIn(t testing.TB, b *browser, u user) page {
	t.Helper()
	start := f.url + f.start
	p := b.Get(t, start)
	if !p.IsRedirect() {
		t.Fatalf("%s: %s opens %s: want a redirect into the sign-in, got %s", f.name, u.Username, start, f.summary(p))
	}
	p = f.follow(t, b, p)
	if _, ok := loginForm(p); !ok {
		t.Fatalf("%s: signing %s in: want Keycloak's login form (the password asked), got %s", f.name, u.Username, f.summary(p))
	}
	p = b.LogIn(t, p, u)
	if !p.IsRedirect() {
		t.Fatalf("%s: Keycloak did not send %s back to rp after the login form: %s", f.name, u.Username, f.summary(p))
	}
	if cb := p.Location(t).String(); !strings.HasPrefix(cb, f.url+f.rpPath+"/callback?") {
		t.Fatalf("%s: Keycloak sent %s to %s, want rp's callback %s%s/callback", f.name, u.Username, cb, f.url, f.rpPath)
	}
	p = f.follow(t, b, p)
	if p.Status != http.StatusOK || p.URL.String() != start {
		t.Fatalf("%s: %s's sign-in ended on %s, want %s (200)", f.name, u.Username, f.summary(p), start)
	}
	return p
}

// follow follows p's redirects as b.Last does, but first fails clearly on
// a redirect to a localhost port that no compose service publishes: an
// RP_BASE_URL, a redirect URI or a published port that went wrong.
func (f front) follow(t testing.TB, b *browser, p page) page {
	t.Helper()
	for i := 0; p.IsRedirect(); i++ {
		if i == 20 {
			why := ""
			if len(f.rps) > 1 {
				why = " (instances behind one address that do not share their sessions send the browser back and forth: one to sign in, the other back to the page; RP_SESSION_STORE?)"
			}
			t.Fatalf("%s: more than 20 redirects, the last %s%s", f.name, p, why)
		}
		next := p.Location(t)
		if port, err := strconv.Atoi(next.Port()); next.Hostname() == "localhost" && (err != nil || !f.kc.Net.mapped(port)) {
			t.Fatalf("%s: %s sends the browser to %s, where no service of docker-compose.yml is published (RP_BASE_URL and the ports: of the service in front must agree)", f.name, p.URL, next)
		}
		p = b.Get(t, next.String())
	}
	return p
}

// mapped reports whether port stands for a compose service's port.
func (n *netmap) mapped(port int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.ports {
		if p == port {
			return true
		}
	}
	return false
}

// summary is summary(p) and what it means: Keycloak's error page
// explained, and the last warnings and errors of the rp behind f.
func (f front) summary(p page) string {
	out := summary(p) + keycloakHint(p)
	var warned []string
	for _, r := range f.rps {
		for _, line := range strings.Split(r.log.String(), "\n") {
			if strings.Contains(line, " level=WARN ") || strings.Contains(line, " level=ERROR ") {
				warned = append(warned, line)
			}
		}
	}
	for _, line := range warned[max(0, len(warned)-3):] {
		out += "\nrp logged: " + line
	}
	return out
}

// keycloakHint says what Keycloak's error page p means for the compose
// file and the realm, or "".
func keycloakHint(p page) string {
	switch {
	case strings.Contains(p.Body, "Invalid parameter: redirect_uri"):
		return fmt.Sprintf("\nthe realm's client %s does not list redirect_uri %s (or RP_BASE_URL is not the URL the realm knows)", p.URL.Query().Get("client_id"), p.URL.Query().Get("redirect_uri"))
	case strings.Contains(p.Body, "Invalid redirect uri"):
		return fmt.Sprintf("\nthe realm's client does not list post_logout_redirect_uri %s", p.URL.Query().Get("post_logout_redirect_uri"))
	}
	return ""
}

// logOut logs u out of f in b as the admin would: rp's logout page, its
// form, then Keycloak's end-session endpoint, which sends the browser back
// to rp's /logged-out without asking anything. Keycloak then holds one
// session of u with f's client less.
func (f front) logOut(t testing.TB, b *browser, u user) {
	t.Helper()
	kc := f.kc
	// Earlier runs may have left sessions of the demo users: count.
	before := kc.keycloakSessionsOf(t, f, u)
	if before == 0 {
		t.Fatalf("%s: %s is signed in, but Keycloak lists no session of theirs with client %s", f.name, u.Username, f.client)
	}
	p := b.Get(t, f.url+f.rpPath+"/logout")
	var logout form
	for _, fm := range forms(p.Body) {
		if fm.Method == "post" && fm.Value("csrf_token") != "" {
			logout = fm
		}
	}
	if p.Status != http.StatusOK || logout.Action == "" {
		t.Fatalf("%s: want rp's logout page with its form, got %s", f.name, f.summary(p))
	}
	origin, _ := url.Parse(f.url)
	p = b.Post(t, logout.Resolve(t, p), logout.Values(), origin.Scheme+"://"+origin.Host)
	endSession := f.kc.Issuer(u.Realm) + "/protocol/openid-connect/logout?"
	if !p.IsRedirect() || !strings.HasPrefix(p.Location(t).String(), endSession) {
		t.Fatalf("%s: logging out: want a redirect to Keycloak's %s, got %s", f.name, endSession, f.summary(p))
	}
	p = b.Get(t, p.Location(t).String())
	if !p.IsRedirect() || !strings.HasPrefix(p.Location(t).String(), f.url+f.rpPath+"/logged-out?") {
		t.Fatalf("%s: Keycloak's end-session: want a redirect to rp's %s%s/logged-out (post_logout_redirect_uri), got %s", f.name, f.url, f.rpPath, f.summary(p))
	}
	if p = f.follow(t, b, p); p.Status != http.StatusOK {
		t.Fatalf("%s: after the logout: %s", f.name, f.summary(p))
	}
	if n := kc.keycloakSessionsOf(t, f, u); n != before-1 {
		t.Fatalf("%s: %s logged out, but Keycloak lists %d session(s) of theirs with client %s, %d before", f.name, u.Username, n, f.client, before)
	}
}

// providerLogout signs a user of its own in at f, has Keycloak's admin
// sign them out, and wants f's session gone too: Keycloak posts the
// logout to the back-channel URL the realm registers for f's client. With
// lb, every instance behind it must have let the session go.
func (f front) providerLogout(t testing.TB, demo *demoRealm, lb *balancer) {
	t.Helper()
	kc := f.kc
	u := kc.newUser(t, demo.Realm, "admins")
	b := newBrowser(t)
	f.signIn(t, b, u)
	if lb != nil {
		lb.bothServe(t, f, b, u)
	}
	if kc.keycloakSessionsOf(t, f, u) == 0 {
		t.Fatalf("%s: %s is signed in, but Keycloak lists no session of theirs with client %s", f.name, u.Username, f.client)
	}
	mark := 0
	if lb != nil {
		mark = lb.mark(t)
	}
	// The admin signs the user out: Users → Sessions. rp asked for
	// offline_access, so Keycloak (26.1 and later) keeps the sign-in as an
	// offline session only, which "Sign out" of the user (POST .../logout)
	// does not end; deleting the session does, and sends the logout token.
	kc.Admin(t, http.MethodPost, "/"+demo.Realm+"/users/"+u.ID+"/logout", nil, nil)
	for _, o := range kc.offlineSessions(t, u, client{Realm: demo.Realm, ID: f.clientUUID(t, kc, demo.Realm)}) {
		kc.Admin(t, http.MethodDelete, "/"+demo.Realm+"/sessions/"+o.ID+"?isOffline=true", nil, nil)
	}
	for range 2 { // through rp-lb: one request per instance (round robin)
		if p := b.Get(t, f.url+f.start); p.Status == http.StatusOK {
			t.Fatalf("%s: an admin signed %s out in Keycloak, but rp still serves the session: the back-channel logout "+
				"did not reach it (client %s: backchannel.logout.url %q, mapped here)", f.name, u.Username, f.client, demo.backchannelURL(t, kc, f.client))
		}
	}
	if lb != nil {
		// Keycloak's logout token came in through the balancer, to one
		// instance; the session is gone on every one.
		got := lb.served(t, mark, http.MethodPost, "/backchannel-logout", 1)
		if st := slices.Concat(slices.Collect(maps.Values(got))...); !slices.Equal(st, []string{"200"}) {
			t.Errorf("%s: want Keycloak's one POST /backchannel-logout through %s, answered 200; got %v", f.name, lb.name, got)
		}
		lb.wantEach(t, mark, f.start, 2, http.StatusSeeOther, "after the logout started at Keycloak")
	}
	p := b.Last(t, b.Get(t, f.url+f.start))
	if _, ok := loginForm(p); !ok {
		t.Fatalf("%s: after the logout started at Keycloak, want its login form, got %s", f.name, f.summary(p))
	}
}

// clientUUID is Keycloak's id of f's client in realm.
func (f front) clientUUID(t testing.TB, kc *keycloak, realm string) string {
	t.Helper()
	var cs []struct{ ID string }
	kc.Admin(t, http.MethodGet, "/"+realm+"/clients?clientId="+url.QueryEscape(f.client), nil, &cs)
	if len(cs) != 1 {
		t.Fatalf("realm %s has no client %s", realm, f.client)
	}
	return cs[0].ID
}

// keycloakSessionsOf counts u's sessions at Keycloak with f's client,
// online and offline.
func (kc *keycloak) keycloakSessionsOf(t testing.TB, f front, u user) int {
	t.Helper()
	id := f.clientUUID(t, kc, u.Realm)
	n := len(kc.offlineSessions(t, u, client{Realm: u.Realm, ID: id}))
	for _, s := range kc.sessions(t, u) {
		if _, ok := s.Clients[id]; ok {
			n++
		}
	}
	return n
}

// --- what the pages show ---

var claimRow = regexp.MustCompile(`<th scope="row"><code>([^<]*)</code></th><td>([^<]*)</td>`)

// wantProfile checks that p is rp's profile page for u, with the claims
// Keycloak's demo realm gives: username, email and groups (its groups
// mapper).
func wantProfile(t testing.TB, f front, p page, u user, group string) {
	t.Helper()
	claims := map[string]string{}
	for _, m := range claimRow.FindAllStringSubmatch(p.Body, -1) {
		claims[html.UnescapeString(m[1])] = html.UnescapeString(m[2])
	}
	if len(claims) == 0 {
		t.Fatalf("%s: %s is not rp's profile page: %s", f.name, p.URL, f.summary(p))
	}
	if claims["preferred_username"] != u.Username || claims["email"] != u.Email || claims["sub"] != u.ID {
		t.Errorf("%s: profile shows preferred_username %q, email %q, sub %q; want %s's %q, %q, %q",
			f.name, claims["preferred_username"], claims["email"], claims["sub"], u.Username, u.Username, u.Email, u.ID)
	}
	if !slices.Contains(splitList(claims["groups"]), group) {
		t.Errorf("%s: profile shows groups %q, want %s in %s (the realm client's groups mapper)", f.name, claims["groups"], u.Username, group)
	}
}

// wantIdentity checks that p is whoami's answer to a request of u that rp
// let through, with the identity headers the compose header promises; and
// the access token, where f passes it.
func wantIdentity(t testing.TB, f front, p page, u user, group string) {
	t.Helper()
	w, ok := parseWhoami(p.Body)
	if p.Status != http.StatusOK || !ok {
		t.Fatalf("%s: %s at %s: want whoami's page, got %s", f.name, u.Username, p.URL.Path, f.summary(p))
	}
	if want := "GET " + p.URL.RequestURI() + " "; !strings.HasPrefix(w.RequestLine, want) {
		t.Errorf("%s: %s asked for %s, whoami was asked %q", f.name, u.Username, p.URL.RequestURI(), w.RequestLine)
	}
	h := w.Header
	for name, want := range map[string]string{
		"X-Forwarded-User":               u.ID,
		"X-Forwarded-Email":              u.Email,
		"X-Forwarded-Preferred-Username": u.Username,
	} {
		if got := h.Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("%s: whoami was told %s: %q, want %q (%s)", f.name, name, got, want, u.Username)
		}
	}
	if got := h.Values("X-Forwarded-Groups"); len(got) != 1 || !slices.Contains(splitList(got[0]), group) {
		t.Errorf("%s: whoami was told X-Forwarded-Groups: %q, want %s in %s", f.name, got, u.Username, group)
	}
	auth := h.Get("Authorization")
	if !f.token {
		if auth != "" {
			t.Errorf("%s: whoami got Authorization %.20q..., but this rp does not pass the access token", f.name, auth)
		}
		return
	}
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		t.Fatalf("%s: whoami got Authorization %.20q, want Bearer and the access token (RP_PASS_ACCESS_TOKEN)", f.name, auth)
	}
	c := claims(t, tok)
	if c["iss"] != f.kc.Issuer(u.Realm) || c["azp"] != f.client || c["sub"] != u.ID {
		t.Errorf("%s: the access token whoami got says iss %v, azp %v, sub %v; want %s, %s, %s", f.name, c["iss"], c["azp"], c["sub"], f.kc.Issuer(u.Realm), f.client, u.ID)
	}
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// summary describes a page for a failure message: where, what status,
// and the start of its text (Keycloak's error pages say what is wrong).
func summary(p page) string {
	z := xhtml.NewTokenizer(strings.NewReader(p.Body))
	var text []string
	skip := false
	for tt := z.Next(); tt != xhtml.ErrorToken; tt = z.Next() {
		switch tt {
		case xhtml.StartTagToken, xhtml.EndTagToken:
			name, _ := z.TagName()
			if string(name) == "script" || string(name) == "style" {
				skip = tt == xhtml.StartTagToken
			}
		case xhtml.TextToken:
			if !skip {
				text = append(text, strings.Fields(string(z.Text()))...)
			}
		}
	}
	s := strings.Join(text, " ")
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	// Tokens in a query (id_token_hint) say nothing a reader needs.
	short := *p.URL
	q := short.Query()
	for _, vs := range q {
		for i, v := range vs {
			if len(v) > 60 {
				vs[i] = v[:20] + "..."
			}
		}
	}
	short.RawQuery = q.Encode()
	p.URL = &short
	return fmt.Sprintf("%s: %q", p, s)
}

// --- the demo realm ---

// demoRealm is the realm file compose's keycloak service imports.
type demoRealm struct {
	Realm string `json:"realm"`
	Users []struct {
		Username    string `json:"username"`
		Email       string `json:"email"`
		Credentials []struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"credentials"`
	} `json:"users"`
}

// loadDemoRealm reads the realm file the keycloak service mounts into its
// import directory.
func loadDemoRealm(t testing.TB, kc *keycloak) *demoRealm {
	t.Helper()
	svc := kc.Compose.Services[keycloakService]
	for _, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind || !strings.HasPrefix(v.Target, kcImportDir) {
			continue
		}
		raw, err := os.ReadFile(hostPath(kc.Compose, v.Source))
		if err != nil {
			t.Fatal(err)
		}
		var r demoRealm
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("%s: %v", v.Source, err)
		}
		return &r
	}
	t.Fatalf("service %s imports no realm file", keycloakService)
	return nil
}

// user is the realm file's user name, with the password it sets and the
// id Keycloak gave it (the sub of its tokens).
func (r *demoRealm) user(t testing.TB, kc *keycloak, name string) user {
	t.Helper()
	for _, u := range r.Users {
		if u.Username != name {
			continue
		}
		out := user{Realm: r.Realm, Username: u.Username, Email: u.Email}
		for _, c := range u.Credentials {
			if c.Type == "password" {
				out.Password = c.Value
			}
		}
		var found []struct{ ID string }
		kc.Admin(t, http.MethodGet, "/"+r.Realm+"/users?exact=true&username="+url.QueryEscape(name), nil, &found)
		if len(found) != 1 || out.Password == "" {
			t.Fatalf("realm %s: user %s: %d found, password set: %v", r.Realm, name, len(found), out.Password != "")
		}
		out.ID = found[0].ID
		return out
	}
	t.Fatalf("the realm file has no user %s (the compose header promises one)", name)
	return user{}
}

// backchannelURL is what Keycloak has as client's back-channel logout URL.
func (r *demoRealm) backchannelURL(t testing.TB, kc *keycloak, clientID string) string {
	t.Helper()
	var cs []struct {
		Attributes map[string]string `json:"attributes"`
	}
	kc.Admin(t, http.MethodGet, "/"+r.Realm+"/clients?clientId="+url.QueryEscape(clientID), nil, &cs)
	if len(cs) != 1 {
		return "(no such client)"
	}
	return cs[0].Attributes["backchannel.logout.url"]
}

// --- profile ha: one address, several instances ---

// balancer is an nginx service in front of rp instances.
type balancer struct {
	name      string
	log       string            // nginx's upstream log (nginxProc.upstreamLog)
	instances map[string]string // loopback address → service
}

func (s *composeStack) balancer(t testing.TB, name string, instances ...string) *balancer {
	t.Helper()
	n, ok := s.nginxes[name]
	if !ok {
		t.Fatalf("profile %q has no nginx service %s", s.profile, name)
	}
	l := &balancer{name: name, log: n.upstreamLog, instances: map[string]string{}}
	for _, inst := range instances {
		l.instances[strings.TrimPrefix(s.rp(t, inst).direct, "http://")] = inst
	}
	return l
}

// mark is where the log ends now: served reads what comes after.
func (l *balancer) mark(t testing.TB) int {
	t.Helper()
	raw, err := os.ReadFile(l.log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(raw)
}

// served is, for each instance, the statuses it answered method path
// with since mark: n requests, waiting for nginx to log them (it logs a
// request once it has answered it).
func (l *balancer) served(t testing.TB, mark int, method, path string, n int) map[string][]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		raw, err := os.ReadFile(l.log)
		if err != nil {
			t.Fatal(err)
		}
		out, got := map[string][]string{}, 0
		for _, line := range strings.Split(string(raw[mark:]), "\n") {
			f := strings.Split(line, "|")
			if len(f) != 4 || f[0] != method || f[1] != path {
				continue
			}
			addrs := strings.Split(f[3], ", ") // the last one answered
			name := cmpOr(l.instances[addrs[len(addrs)-1]], f[3])
			out[name] = append(out[name], f[2])
			got++
		}
		if got >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantEach checks that the n requests for GET path since mark reached
// every instance, and each answered status.
func (l *balancer) wantEach(t testing.TB, mark int, path string, n, status int, when string) {
	t.Helper()
	got := l.served(t, mark, http.MethodGet, path, n)
	for _, inst := range l.instances {
		st := got[inst]
		if len(st) == 0 {
			t.Errorf("%s %s: %s sent no GET %s to %s (want round robin over every instance): %v", l.name, when, l.name, path, inst, got)
		}
		for _, s := range st {
			if s != strconv.Itoa(status) {
				t.Errorf("%s %s: %s answered GET %s with %s, want %d: %v", l.name, when, inst, path, s, status, got)
				break
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// bothServe checks that every instance behind l serves b's session: as
// many requests as instances, twice over, round robin.
func (l *balancer) bothServe(t testing.TB, f front, b *browser, u user) {
	t.Helper()
	mark := l.mark(t)
	n := 2 * len(l.instances)
	for range n {
		b.Get(t, f.url+f.start)
	}
	l.wantEach(t, mark, f.start, n, http.StatusOK, "with "+u.Username+" signed in")
}
