package web_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/proxy/pathoracle"
	"github.com/rp-project/rp/internal/testprovider"
)

// FuzzAuth asks rp's forward-auth route, as the trusted proxy does, about a
// fuzzed X-Forwarded-Uri with RP_PATH_RULES=/admin=admins, for a user in
// no group (or, with anonymous, no session at all). rp answers 200 only for
// a URI that the app behind the proxy, which receives the raw URI, cannot
// read as /admin or below nor with a dot segment, whichever lenient reading
// it makes: decoded, then path parameters cut from every segment and
// backslashes read as slashes in either order; or parameters cut from the
// raw segments before decoding, as Tomcat does (CoyoteAdapter:
// parsePathParameters, then URL decoding, then normalisation), so that an
// encoded slash inside a parameter is no separator. Never a 5xx; a sign-in
// redirect or 401 only names rp's own origin. To fuzz:
//
//	go test ./internal/web -run '^$' -fuzz '^FuzzAuth$' -fuzztime 60s -parallel 1
func FuzzAuth(f *testing.F) {
	for _, u := range []string{
		"/", "/admin", "/admin?x=1", "/x/admin", "/%61dmin", "/admin%3Bx", "/;x/admin", "/a;b/admin", "/Admin.json",
		"/a%2Fb", "/a%5Cb/admin", "/%2e%2e/admin", "/x/..;/admin", "/x;y%2e%2e/admin", "/public?next=/admin",
		"//evil.example/", "/%zz", "/admin#x", "/a\\b",
	} {
		f.Add(u, false)
	}
	f.Add("/profile?a=1", true)
	f.Add("/_rp/login", true)
	rig := newFuzzRig(f, map[string]string{
		"RP_PATH_PREFIX":     "/_rp",
		"RP_TRUSTED_PROXIES": "192.0.2.1",
		"RP_PATH_RULES":      "/admin=admins",
	})
	rig.op.Set(func(k *testprovider.Knobs) {
		k.Subject = "bob"
		k.ExtraIDClaims = map[string]any{"groups": []string{"users"}}
	})
	bob, _ := cookiejar.New(nil)
	rig.signIn(f, bob)
	base := mustURL(f, "http://rp.test")
	f.Fuzz(func(t *testing.T, uri string, anonymous bool) {
		if strings.ContainsAny(uri, "\r\n\x00") {
			return // no header value a server passes on
		}
		jar := bob
		if anonymous {
			jar, _ = cookiejar.New(nil)
		}
		req := httptest.NewRequest(http.MethodGet, rig.route("/auth"), nil)
		req.Header = http.Header{
			"Accept":             {"text/html"},
			"X-Forwarded-Method": {"GET"},
			"X-Forwarded-Proto":  {"http"},
			"X-Forwarded-Host":   {"rp.test"},
			"X-Forwarded-Uri":    {uri},
		}
		res := rig.serve(req, jar)
		switch {
		case res.StatusCode >= 500:
			t.Fatalf("X-Forwarded-Uri %q: status %d", uri, res.StatusCode)
		case len(res.Header["Location"]) > 0:
			fuzzCheckSameOrigin(t, base, uri, res.Header["Location"])
		}
		if res.StatusCode != http.StatusOK {
			return
		}
		if anonymous {
			t.Fatalf("X-Forwarded-Uri %q: 200 without a session", uri)
		}
		rawPath, _, _ := strings.Cut(uri, "?")
		for _, r := range pathoracle.Readings(rawPath) {
			if pathoracle.Under(r, "/admin") {
				t.Fatalf("X-Forwarded-Uri %q: 200 for a user without groups; an app reads it as %q", uri, r)
			}
			if pathoracle.HasDotSegment(r) {
				t.Fatalf("X-Forwarded-Uri %q: 200; an app reads it with a dot segment: %q", uri, r)
			}
		}
	})
}
