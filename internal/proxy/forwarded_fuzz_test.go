package proxy

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/proxy/pathoracle"
)

// The forward-auth fuzz targets. Their seed corpora (the f.Add calls and
// testdata/fuzz/FuzzX) run with every plain `go test`; to fuzz one:
//
//	go test ./internal/proxy -run '^$' -fuzz '^FuzzPathRules$' -fuzztime 60s -parallel 1

// fuzzHeaderLines turns a fuzzed string into a header's lines: "" is no
// header at all, and "\n" separates lines (a real header value holds none,
// so this is how a repeated header is written).
func fuzzHeaderLines(h http.Header, key, v string) {
	if v != "" {
		h[key] = strings.Split(v, "\n")
	}
}

// FuzzForwardedRequest: ForwardedRequest never returns ok with a URI a
// browser or app could read as another origin or as more than one request
// target, nor with a method, proto or host that is not the one line it was
// sent as.
func FuzzForwardedRequest(f *testing.F) {
	f.Add("GET", "https", "app.example.com", "/reports/q1?year=2025&tags=a,b")
	f.Add("POST", "HTTPS", "App.Example.com:8443", "/api/items/1,2,3")
	f.Add("HEAD", "http", "[2001:db8::1]:8080", "/")
	f.Add("GET", "https", "app.example.com", "//evil.example/")
	f.Add("GET", "https", "app.example.com", "https://evil.example/")
	f.Add("GET", "https", "app.example.com", "/a\n/b")
	f.Add("GET", "https", "app.example.com, evil.example", "/")
	f.Add("GET", "https", "evil.example@app.example.com", "/")
	f.Add("GET", "https", "app.example.com", " /admin#x")
	f.Add("GET", "https", "app.example.com", "/\\evil.example")
	f.Add("G ET", "ws", "[fe80::1%25eth0]", "/a b")
	f.Add("GET", "https", "app.example.com:+80", "/\t/x")
	f.Fuzz(func(t *testing.T, method, proto, host, uri string) {
		h := http.Header{}
		fuzzHeaderLines(h, "X-Forwarded-Method", method)
		fuzzHeaderLines(h, "X-Forwarded-Proto", proto)
		fuzzHeaderLines(h, "X-Forwarded-Host", host)
		fuzzHeaderLines(h, "X-Forwarded-Uri", uri)
		fw, ok := ForwardedRequest(h)
		if !ok {
			if fw != (Forwarded{}) {
				t.Fatalf("not ok, but returned %+v", fw)
			}
			return
		}
		for _, k := range []string{"X-Forwarded-Method", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Uri"} {
			if len(h[k]) != 1 {
				t.Fatalf("ok with %d lines of %s", len(h[k]), k)
			}
		}
		fuzzCheckForwardedURI(t, fw.URI)
		if fw.URI != strings.Trim(h["X-Forwarded-Uri"][0], " \t") {
			t.Fatalf("URI %q is not the header's line %q", fw.URI, h["X-Forwarded-Uri"][0])
		}
		if !fuzzHttpToken.MatchString(fw.Method) {
			t.Fatalf("method %q is not an HTTP token", fw.Method)
		}
		if fw.Proto != "http" && fw.Proto != "https" {
			t.Fatalf("proto %q", fw.Proto)
		}
		if fw.Host == "" || fw.Host != strings.ToLower(fw.Host) || strings.ContainsAny(fw.Host, "/\\@?#, \t%") {
			t.Fatalf("host %q", fw.Host)
		}
		// The host is exactly what a URL on it names as its host.
		if u, err := url.Parse(fw.Proto + "://" + fw.Host + "/"); err != nil || u.Host != fw.Host || u.User != nil || u.Path != "/" {
			t.Fatalf("host %q reads as %+v (%v)", fw.Host, u, err)
		}
	})
}

var fuzzHttpToken = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

// fuzzCheckForwardedURI holds the properties of an accepted X-Forwarded-Uri:
// a path on this origin, one request target, no fragment.
func fuzzCheckForwardedURI(t *testing.T, uri string) {
	t.Helper()
	if !strings.HasPrefix(uri, "/") || strings.HasPrefix(uri, "//") {
		t.Fatalf("URI %q: not an origin-form path", uri)
	}
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c == 0x7f || c == '#' {
			t.Fatalf("URI %q holds %q", uri, c)
		}
	}
	u, err := url.Parse(uri)
	if err == nil && (u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "") {
		t.Fatalf("URI %q parses with a scheme or host: %+v", uri, u)
	}
	if u, err := url.ParseRequestURI(uri); err == nil && (u.Scheme != "" || u.Host != "") {
		t.Fatalf("URI %q parses as a request URI with a scheme or host: %+v", uri, u)
	}
	// Resolved against the app's origin, as a browser or app would.
	if u, err := url.Parse(uri); err == nil {
		if got := fuzzMustParse(t, "https://app.example").ResolveReference(u); got.Host != "app.example" {
			t.Fatalf("URI %q resolves to host %q", uri, got.Host)
		}
	}
}

func fuzzMustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// FuzzIsNavigation: a request IsNavigation lets be redirected to sign-in is
// a GET or HEAD that names text/html with a quality above zero, is no
// WebSocket or XHR, and is a top-level document navigation when the
// browser says what it is.
func FuzzIsNavigation(f *testing.F) {
	chromium := "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
	f.Add("GET", chromium, "navigate", "document", "", "")
	f.Add("HEAD", "text/html, */*", "", "", "", "")
	f.Add("GET", "text/html;q=0, */*", "", "", "", "")
	f.Add("GET", "application/json, text/html; q=0.5", "navigate", "document", "", "")
	f.Add("GET", "text/html", "cors", "empty", "", "")
	f.Add("GET", "text/html", "navigate\ncors", "document", "", "")
	f.Add("GET", "text/html", "", "", "websocket", "")
	f.Add("GET", "TEXT/HTML;Q=0.000", "", "", "", "XMLHttpRequest")
	f.Add("POST", "text/html", "navigate", "document", "", "")
	f.Add("GET", "text/htmlx, text/html;level=1;q=0.", " Navigate ", "DOCUMENT", "", "")
	f.Fuzz(func(t *testing.T, method, accept, mode, dest, upgrade, xrw string) {
		h := http.Header{}
		fuzzHeaderLines(h, "Accept", accept)
		fuzzHeaderLines(h, "Sec-Fetch-Mode", mode)
		fuzzHeaderLines(h, "Sec-Fetch-Dest", dest)
		fuzzHeaderLines(h, "Upgrade", upgrade)
		fuzzHeaderLines(h, "X-Requested-With", xrw)
		if !IsNavigation(method, h) {
			return
		}
		if method != "GET" && method != "HEAD" {
			t.Fatalf("navigation with method %q", method)
		}
		if upgrade != "" || xrw != "" {
			t.Fatal("navigation with Upgrade or X-Requested-With")
		}
		if mode != "" && !strings.EqualFold(strings.TrimSpace(mode), "navigate") {
			t.Fatalf("navigation with Sec-Fetch-Mode %q", mode)
		}
		if dest != "" && !strings.EqualFold(strings.TrimSpace(dest), "document") {
			t.Fatalf("navigation with Sec-Fetch-Dest %q", dest)
		}
		if !fuzzNamesHTML(h["Accept"]) {
			t.Fatalf("navigation with Accept %q", h["Accept"])
		}
	})
}

// fuzzNamesHTML is the oracle for Accept: some element's media type is
// text/html, and its first q parameter, if any, is not a zero qvalue of
// RFC 9110 12.4.2.
func fuzzNamesHTML(lines []string) bool {
	for _, item := range strings.Split(strings.Join(lines, ","), ",") {
		parts := strings.Split(item, ";")
		if !strings.EqualFold(strings.TrimSpace(parts[0]), "text/html") {
			continue
		}
		zero := false
		for _, p := range parts[1:] {
			k, v, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				zero = fuzzZeroQ.MatchString(strings.TrimSpace(v))
				break
			}
		}
		if !zero {
			return true
		}
	}
	return false
}

var fuzzZeroQ = regexp.MustCompile(`^0(\.0{0,3})?$`)

// fuzzAdminRules protect /admin for the group admins.
var fuzzAdminRules = Rules{Paths: []PathRule{{Prefix: "/admin", Groups: []string{"admins"}}}}

// FuzzPathRules: for a user in no group, Rules{/admin=admins}.Allow never
// lets through a decoded path that any lenient app server reads as /admin
// or below, and SafePath refuses every path with a "." or ".." segment in
// any of those readings. The oracle is written apart from rules.go.
func FuzzPathRules(f *testing.F) {
	for _, p := range []string{
		"/", "/admin", "/admin/", "/admin/users", "/Admin", "/ADMIN;x", "/admin.json", "/administrator",
		"//admin", "/\\admin", "/x/../admin", "/..;/admin", "/api;x/admin", "/;x/admin",
		"/a;b\\c/admin", "/adm\\in", "/%61dmin", "/admin%2F", "/.", "/a/./b", "/a\\..\\b", "/a/.;x/b",
		"/\u212aadmin", "/admın", "",
	} {
		f.Add(p)
	}
	noGroups := User{Identity: Identity{User: "s1"}}
	admin := User{Identity: Identity{User: "s2", Groups: []string{"admins"}}}
	f.Fuzz(func(t *testing.T, path string) {
		if ok, reason := fuzzAdminRules.Allow(admin, path); !ok {
			t.Fatalf("an admin is refused %q: %s", path, reason)
		}
		// rp asks Allow only about paths SafePath lets through.
		safe := SafePath(path)
		allowed, _ := fuzzAdminRules.Allow(noGroups, path)
		for _, r := range pathoracle.Decoded(path) {
			if safe && allowed && pathoracle.Under(r, "/admin") {
				t.Fatalf("Allow(%q) lets a user without groups through; a lenient server reads it as %q", path, r)
			}
			if safe && pathoracle.HasDotSegment(r) {
				t.Fatalf("SafePath(%q) is true; a lenient server reads it as %q", path, r)
			}
		}
	})
}
