package web_test

import (
	"bufio"
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/app"
	"github.com/rp-project/rp/internal/config"
	"github.com/rp-project/rp/internal/testprovider"
)

// fuzzRig is rp in-process, served without a listener, in front of a test
// provider: cheap enough to start one sign-in per fuzzed input.
type fuzzRig struct {
	op       *testprovider.Provider
	handler  http.Handler
	base     *url.URL
	provider *http.Client // to the provider, following no redirects
	prefix   string       // RP_PATH_PREFIX
}

// newFuzzRig starts rp on http://rp.test with the settings in env on top
// of the test provider's.
func newFuzzRig(tb testing.TB, env map[string]string) *fuzzRig {
	tb.Helper()
	op := testprovider.New(tb)
	env = maps.Clone(env)
	if env == nil {
		env = map[string]string{}
	}
	for k, v := range map[string]string{
		"RP_ISSUER":        op.Issuer,
		"RP_CLIENT_ID":     op.ClientID,
		"RP_CLIENT_SECRET": op.ClientSecret,
		"RP_BASE_URL":      "http://rp.test",
		"RP_SESSION_STORE": "memory",
	} {
		if _, ok := env[k]; !ok {
			env[k] = v
		}
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		tb.Fatalf("config: %v", err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{})
	if err != nil {
		tb.Fatalf("app: %v", err)
	}
	tb.Cleanup(func() { a.Close() })
	if err := a.OIDC.Discover(context.Background()); err != nil {
		tb.Fatalf("discovery: %v", err)
	}
	return &fuzzRig{op: op, handler: a.Handler, base: mustURL(tb, "http://rp.test"),
		provider: &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		prefix: env["RP_PATH_PREFIX"]}
}

// serve runs req through rp with the browser's cookies, and keeps the
// cookies rp sets.
func (r *fuzzRig) serve(req *http.Request, jar http.CookieJar) *http.Response {
	for _, c := range jar.Cookies(r.base) {
		req.AddCookie(c)
	}
	req.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	res := rec.Result()
	jar.SetCookies(r.base, res.Cookies())
	return res
}

// startSignIn runs GET /login?return_to= in browser jar and the provider's
// approval, and returns the pending state, the code and the issuer the
// provider sent back.
func (r *fuzzRig) startSignIn(t testing.TB, jar http.CookieJar, returnTo string) (state, code, iss string) {
	t.Helper()
	res := r.serve(httptest.NewRequest(http.MethodGet, r.route("/login?return_to="+url.QueryEscape(returnTo)), nil), jar)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("/login: status %d", res.StatusCode)
	}
	pres, err := r.provider.Get(res.Header.Get("Location"))
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	pres.Body.Close()
	back, err := url.Parse(pres.Header.Get("Location"))
	if err != nil || pres.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, Location %q", pres.StatusCode, pres.Header.Get("Location"))
	}
	q := back.Query()
	return q.Get("state"), q.Get("code"), q.Get("iss")
}

// route is rp's URL for path under its prefix.
func (r *fuzzRig) route(path string) string { return "http://rp.test" + r.prefix + path }

// signIn signs browser jar in completely.
func (r *fuzzRig) signIn(t testing.TB, jar http.CookieJar) {
	t.Helper()
	state, code, iss := r.startSignIn(t, jar, "")
	q := url.Values{"state": {state}, "code": {code}, "iss": {iss}}
	if res := r.serve(httptest.NewRequest(http.MethodGet, r.route("/callback?"+q.Encode()), nil), jar); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: status %d", res.StatusCode)
	}
}

// signedIn asks rp's protected page with the browser's cookies.
func (r *fuzzRig) signedIn(t testing.TB, jar http.CookieJar) bool {
	t.Helper()
	res := r.serve(httptest.NewRequest(http.MethodGet, r.route("/profile"), nil), jar)
	switch res.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusSeeOther:
		return false
	}
	t.Fatalf("/profile: status %d", res.StatusCode)
	return false
}

// FuzzCallback sends GET /callback with a fuzzed raw query after a real
// sign-in started in the same browser (or, with foreign, in another one).
// In the query, {state}, {code} and {iss} stand for the pending state, the
// provider's valid code and the issuer (query-escaped; {rawiss} as is), so
// that the fuzzer can reach every branch. Properties: no 500 and no other
// 5xx than the 502 of a provider's server_error or temporarily_unavailable
// (the provider is up); no redirect off rp's origin (as a browser reads
// Location); no "<script" in the page; and the browser is signed in
// exactly when the query carries the pending state, the valid code and the
// issuer once each and no error, in the browser that started the sign-in.
// To fuzz:
//
//	go test ./internal/web -run '^$' -fuzz '^FuzzCallback$' -fuzztime 60s -parallel 1
func FuzzCallback(f *testing.F) {
	for _, s := range []struct {
		returnTo, query string
		foreign         bool
	}{
		{"/profile", "code={code}&state={state}&iss={iss}", false},
		{"/profile", "code={code}&state={state}&iss={iss}", true},
		{"", "state={state}&code={code}&iss={rawiss}", false},
		{"//evil.example", "code={code}&state={state}&iss={iss}", false},
		{"/\\evil.example/x?y#z", "code={code}&state={state}&iss={iss}&error=", false},
		{"/login", "code={code}&state={state}&iss={iss}&state={state}", false},
		{"/", "code={code}&code={code}&state={state}&iss={iss}", false},
		{"/", "code={code}&state={state}&iss={iss}&iss={iss}", false},
		{"/", "code={code}&state={state}", false},
		{"/", "code={code}&state={state}x&iss={iss}", false},
		{"/", "code=x{code}&state={state}&iss={iss}", false},
		{"/", "code={code}&state=%7Bstate%7D&iss={iss}", false},
		{"/", "code={code};state={state};iss={iss}", false},
		{"/", "code={code}&state={state}&iss=https://evil.example", false},
		{"/", "state={state}&iss={iss}&error=access_denied&error_description=%3Cscript%3Ealert(1)%3C/script%3E", false},
		{"/", "state={state}&iss={iss}&error=server_error&error_description=down", false},
		{"/", "state={state}&iss={iss}&error=%3Cscript%3E&error_description=<script>x</script>", false},
		{"/", "state={state}&iss={iss}&code={code}&error=temporarily_unavailable", false},
		{"/", "state=made-up&error=access_denied&error_description=%3Cscript%3E", false},
		{"/", "", false},
		{"/", "%zz&state={state}&code={code}&iss={iss}", false},
		{"/", "state={state}&code={code}&iss={iss}&error_description=" + strings.Repeat("%E2%80%A6", 120), false},
	} {
		f.Add(s.returnTo, s.query, s.foreign)
	}
	rig := newFuzzRig(f, nil)
	base := mustURL(f, "http://rp.test")
	f.Fuzz(func(t *testing.T, returnTo, query string, foreign bool) {
		for i := 0; i < len(query); i++ {
			if c := query[i]; c <= ' ' || c == 0x7f {
				return // not a request line an HTTP server passes on
			}
		}
		jar, _ := cookiejar.New(nil)
		state, code, iss := rig.startSignIn(t, jar, returnTo)
		raw := strings.NewReplacer("{state}", state, "{code}", code, "{iss}", url.QueryEscape(iss), "{rawiss}", iss).Replace(query)
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(
			"GET " + rig.prefix + "/callback?" + raw + " HTTP/1.1\r\nHost: rp.test\r\nAccept: text/html\r\n\r\n")))
		if err != nil {
			return // the server answers 400 before rp sees it
		}
		if foreign {
			jar, _ = cookiejar.New(nil)
		}
		res := rig.serve(req, jar)
		body, _ := io.ReadAll(res.Body)

		q, _ := url.ParseQuery(req.URL.RawQuery) // as r.URL.Query() reads it
		one := func(k, v string) bool { return len(q[k]) == 1 && q[k][0] == v }
		errParam := strings.Join(q["error"], ",")
		if res.StatusCode >= 500 && !(res.StatusCode == http.StatusBadGateway &&
			(errParam == "server_error" || errParam == "temporarily_unavailable")) {
			t.Fatalf("query %q: status %d: %.300s", raw, res.StatusCode, body)
		}
		if len(res.Header["Location"]) > 0 {
			fuzzCheckSameOrigin(t, base, raw, res.Header["Location"])
		}
		if strings.Contains(strings.ToLower(string(body)), "<script") {
			t.Fatalf("query %q: the page holds <script: %.600s", raw, body)
		}
		valid := !foreign && one("state", state) && one("code", code) && one("iss", iss) && errParam == ""
		signedIn := rig.signedIn(t, jar)
		switch {
		case signedIn && !valid:
			t.Fatalf("query %q (foreign %v): signed in without the exact pending state, valid code and issuer", raw, foreign)
		case valid && (!signedIn || res.StatusCode != http.StatusSeeOther):
			t.Fatalf("query %q: a valid answer did not sign in: status %d: %.300s", raw, res.StatusCode, body)
		}
	})
}

// fuzzCheckSameOrigin fails unless every Location is one a browser resolves
// on rp's own origin: browsers drop tabs and newlines, read "\" as "/" and
// take "//host" as another host.
func fuzzCheckSameOrigin(t *testing.T, base *url.URL, query string, locs []string) {
	t.Helper()
	if len(locs) != 1 {
		t.Fatalf("query %q: %d Location headers", query, len(locs))
	}
	loc := locs[0]
	for i := 0; i < len(loc); i++ {
		if c := loc[i]; c < ' ' || c == 0x7f {
			t.Fatalf("query %q: Location %q holds a control character", query, loc)
		}
	}
	b := strings.ReplaceAll(strings.TrimSpace(loc), `\`, "/")
	u, err := url.Parse(b)
	if err != nil || strings.HasPrefix(b, "//") {
		t.Fatalf("query %q: Location %q leaves rp's origin (%v)", query, loc, err)
	}
	if r := base.ResolveReference(u); r.Scheme != base.Scheme || r.Host != base.Host {
		t.Fatalf("query %q: Location %q resolves to %s", query, loc, r)
	}
}
