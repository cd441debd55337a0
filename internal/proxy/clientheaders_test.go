package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// otherProxiesHead is a request carrying the identity headers other
// proxies and servers set for their apps, as a client could send them to
// an app that reads one: every value contains "evil".
const otherProxiesHead = `GET /page HTTP/1.1
Host: app.example.com
Remote-User: evil-admin
remote-user: evil-lower
REMOTE_USER: evil-cgi
Remote.User: evil-dotted
Remote-Email: evil@evil.example
Remote-Groups: evil-admins
X-Remote-User: evil
X_Remote_User: evil-underscore
X-Remote-Group: evil-system:masters
X-Remote-Extra-Scopes: evil
Impersonate-User: evil
X-Auth-Request-User: evil
X-Auth-Request-Email: evil@evil.example
x-auth-request-preferred-username: evil
X_Auth_Request_Groups: evil
X-Auth-Request-Access-Token: evil
X-Forwarded-Access-Token: evil
X-Webauth-User: evil
X-WEBAUTH-EMAIL: evil@evil.example
X.Webauth.Groups: evil
X-authentik-username: evil
X-Pomerium-Claim-Email: evil@evil.example
X-Pomerium-Jwt-Assertion: evil
Cf-Access-Authenticated-User-Email: evil@evil.example
X-Goog-Authenticated-User-Email: evil@evil.example
X-Amzn-Oidc-Identity: evil
X-Ms-Client-Principal-Name: evil
X-Userinfo: evil-userinfo
X-Id-Token: evil-id-token
X-Access-Token: evil-access-token
X-Remote-Groups: evil-system:masters
X.Forwarded.User: evil-dotted-own
X-Forwarded_Email: evil-mixed-own
X-App: kept`

func TestServeRemovesOtherProxiesIdentityHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   Identity
	}{
		{"signed in", alice()},
		{"no identity", Identity{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := throughProxy(t, tc.id, otherProxiesHead)
			for k, vs := range s.Header {
				if slices.ContainsFunc(vs, func(v string) bool { return strings.Contains(v, "evil") }) {
					t.Errorf("a client's identity header reached the app: %s: %q", k, vs)
				}
			}
			if got := s.Header["X-App"]; !slices.Equal(got, []string{"kept"}) {
				t.Errorf("X-App = %q, want the client's", got)
			}
			if got := s.Header[HeaderUser]; tc.id.User != "" && !slices.Equal(got, []string{tc.id.User}) {
				t.Errorf("%s = %q, want rp's", HeaderUser, got)
			}
		})
	}
}

// throughProxy sends the raw request head through rp's proxy, for the
// identity id, and returns what the app saw.
func throughProxy(t *testing.T, id Identity, head string) seen {
	t.Helper()
	up := echoUpstream(t)
	u := New(Options{URL: mustURL(t, up.URL), Proto: "http"})
	front := frontServer(t, u, id, nil)
	res, _, _ := rawExchange(t, front.Listener.Addr().String(), head+"\nConnection: close")
	defer res.Body.Close()
	var s seen
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestServeRemovesEveryListedHeader sends, for every name and prefix of the
// documented list, three spellings an app could read as it.
func TestServeRemovesEveryListedHeader(t *testing.T) {
	up := echoUpstream(t)
	u := New(Options{URL: mustURL(t, up.URL), Proto: "http"})
	req := httptest.NewRequest("GET", "http://app.example.com/x", nil)
	for _, c := range clientIdentityHeaders {
		name := c.Name
		if c.Prefix {
			name += "Test"
		}
		for _, sp := range spellings(name) {
			req.Header[sp] = append(req.Header[sp], "evil")
		}
	}
	req.Header["X-App"] = []string{"kept"}
	s, _ := serveRecorded(t, u, req, alice())
	for k, vs := range s.Header {
		if slices.Contains(vs, "evil") {
			t.Errorf("%s reached the app", k)
		}
	}
	if got := s.Header["X-App"]; !slices.Equal(got, []string{"kept"}) {
		t.Errorf("X-App = %q, want the client's", got)
	}
}

// spellings are name in upper case with '_', in lower case with '.', with
// every separator alternating between the three, and with every separator
// one of the other punctuation HTTP allows in a name (which lighttpd's CGI
// and FastCGI, and Apache httpd before 2.4, turn into '_' too).
func spellings(name string) []string {
	mixed, punct := []byte(name), []byte(name)
	n := 0
	for i, c := range mixed {
		if c == '-' {
			mixed[i] = "_.-"[n%3]
			punct[i] = "~+!%|^#$&'*`"[n%12]
			n++
		}
	}
	return []string{
		strings.ToUpper(strings.ReplaceAll(name, "-", "_")),
		strings.ToLower(strings.ReplaceAll(name, "-", ".")),
		string(mixed),
		string(punct),
	}
}

// TestServePassesAllowedClientHeaders: a name the admin allows reaches the
// app exactly as the client sent it, in each spelling; the others do not.
func TestServePassesAllowedClientHeaders(t *testing.T) {
	up := echoUpstream(t)
	u := New(Options{URL: mustURL(t, up.URL), Proto: "http", PassClientHeaders: []string{"Cf-Access-Jwt-Assertion", "x-goog-iap-jwt-assertion"}})
	front := frontServer(t, u, alice(), nil)
	res, _, _ := rawExchange(t, front.Listener.Addr().String(), "GET / HTTP/1.1\nHost: a\n"+
		"Cf-Access-Jwt-Assertion: signed-1\nCf-Access-Jwt-Assertion: signed-2\nX_Goog_Iap_Jwt_Assertion: signed-3\n"+
		"Cf-Access-Authenticated-User-Email: evil@evil.example\nRemote-User: evil\nConnection: close")
	defer res.Body.Close()
	var s seen
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if got := s.Header["Cf-Access-Jwt-Assertion"]; !slices.Equal(got, []string{"signed-1", "signed-2"}) {
		t.Errorf("Cf-Access-Jwt-Assertion = %q, want the client's two lines", got)
	}
	if got := s.Header["X_goog_iap_jwt_assertion"]; !slices.Equal(got, []string{"signed-3"}) {
		t.Errorf("X_goog_iap_jwt_assertion = %q, want the client's (headers %q)", got, s.Header)
	}
	for k, vs := range s.Header {
		if slices.ContainsFunc(vs, func(v string) bool { return strings.Contains(v, "evil") }) {
			t.Errorf("a header not allowed reached the app: %s: %q", k, vs)
		}
	}
}

// TestServeStripsOtherIdentityTrailers: the same names as request
// trailers, which an app might merge into its headers, never arrive.
func TestServeStripsOtherIdentityTrailers(t *testing.T) {
	got := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.Trailer
	}))
	defer up.Close()
	u := New(Options{URL: mustURL(t, up.URL)})
	front := frontServer(t, u, alice(), nil)
	res, _, _ := rawExchange(t, front.Listener.Addr().String(), "POST / HTTP/1.1\nHost: app.example.com\n"+
		"Transfer-Encoding: chunked\nTrailer: Remote-User, X-Auth-Request-Email, X-Original-Url, X-App\nConnection: close\n\n"+
		"5\nhello\n0\nRemote-User: evil\nX-Auth-Request-Email: evil@evil.example\nX-Original-Url: /admin\nX-App: kept")
	res.Body.Close()
	tr := <-got
	for k := range tr {
		if k != "X-App" {
			t.Errorf("trailer reached the upstream: %s", k)
		}
	}
	if _, ok := tr["X-App"]; !ok {
		t.Errorf("the app's own trailer was removed: %q", tr)
	}
}

// TestServeDropsURLHeadersFromEveryone: headers naming the request's URL or
// path, which apps (IIS, older Symfony, Laravel and Zend) route by, never
// reach the app, even from a trusted proxy: the access rules checked the
// request's own path.
func TestServeDropsURLHeadersFromEveryone(t *testing.T) {
	up := echoUpstream(t)
	trusted, err := ParseTrusted("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	u := New(Options{URL: mustURL(t, up.URL), Proto: "https", Trusted: trusted})
	for _, peer := range []string{"10.1.2.3:4000", "198.51.100.7:4000"} {
		t.Run(peer, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://app.example.com/public", nil)
			req.RemoteAddr = peer
			for _, k := range []string{"X-Original-URL", "X-Rewrite-URL", "X-Original-URI", "X_Original_URL", "x.rewrite.url",
				"X-Forwarded-Uri", "X-Forwarded-Path"} {
				req.Header[k] = []string{"/admin"}
			}
			s, _ := serveRecorded(t, u, req, alice())
			for k, vs := range s.Header {
				if slices.Contains(vs, "/admin") {
					t.Errorf("%s: %q reached the app", k, vs)
				}
			}
		})
	}
}

func TestCheckPassClientHeaders(t *testing.T) {
	if err := CheckPassClientHeaders([]string{"Remote-User", "x_auth_request_email", "X-Pomerium-Claim-Email", "Cf-Access-Jwt-Assertion", "X-Userinfo"}); err != nil {
		t.Errorf("listed names refused: %v", err)
	}
	if err := CheckPassClientHeaders(nil); err != nil {
		t.Errorf("no names: %v", err)
	}
	for _, tc := range []struct{ name, want string }{
		{"X-Forwarded-User", "rp's own"},
		{"x_forwarded_groups", "rp's own"},
		{"X.Forwarded.Email", "rp's own"},
		{"X~Forwarded~User", "rp's own"},
		{"X-Forwarded+Groups", "rp's own"},
		{"Authorization", "RP_PASS_ACCESS_TOKEN"},
		{"X-Custom-User", "not a header rp removes"},
		{"X-Original-URL", "not a header rp removes"},
		{"X-Auth-Request-*", "without *"},
		{"Remote User", "not a header name"},
		{"", "not a header name"},
	} {
		err := CheckPassClientHeaders([]string{"Remote-User", tc.name})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one saying %q", tc.name, err, tc.want)
		}
	}
}

// TestServeNeverPassesOwnIdentityHeaders: even named in PassClientHeaders
// (CheckPassClientHeaders refuses that), rp's own headers come from rp.
func TestServeNeverPassesOwnIdentityHeaders(t *testing.T) {
	up := echoUpstream(t)
	u := New(Options{URL: mustURL(t, up.URL), PassClientHeaders: []string{HeaderUser, "Authorization"}})
	req := httptest.NewRequest("GET", "http://app.example.com/x", nil)
	req.Header[HeaderUser] = []string{"evil"}
	req.Header["X_forwarded_user"] = []string{"evil"}
	s, _ := serveRecorded(t, u, req, Identity{User: "sub-alice", AccessToken: "at"})
	if got := headerSpellings(s.Header, HeaderUser); len(got) != 1 || !slices.Equal(got[HeaderUser], []string{"sub-alice"}) {
		t.Errorf("%s at the app: %q, want rp's only", HeaderUser, got)
	}
	if got := s.Header["Authorization"]; !slices.Equal(got, []string{"Bearer at"}) {
		t.Errorf("Authorization = %q", got)
	}
}

// TestREADMEListsClientIdentityHeaders: the README's list is this one.
func TestREADMEListsClientIdentityHeaders(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "<!-- client identity headers -->")
	end := strings.Index(readme, "<!-- end of client identity headers -->")
	if start < 0 || end < start {
		t.Fatal("README: no <!-- client identity headers --> ... <!-- end of client identity headers --> section")
	}
	section := readme[start:end]
	var listed []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(section, -1) {
		listed = append(listed, m[1])
	}
	var want []string
	for _, c := range clientIdentityHeaders {
		n := c.Name
		if c.Prefix {
			n += "*"
		}
		want = append(want, n)
	}
	if !slices.Equal(listed, want) {
		t.Errorf("README lists\n%q\nthe code removes\n%q", listed, want)
	}
}
