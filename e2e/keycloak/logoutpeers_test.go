package keycloak

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/html"
)

// logoutRecorder stands between Keycloak and one rp instance's
// /backchannel-logout, as a load balancer would, and records each logout
// token Keycloak posts (its claims, read without checking them: rp checks
// them) with rp's answer.
type logoutRecorder struct {
	URL    string // register this as the client's back-channel logout URL
	target string
	mu     sync.Mutex
	got    []postedLogout
}

// postedLogout is one back-channel logout as it went through.
type postedLogout struct {
	Claims map[string]any
	Status int // rp's answer
}

// newLogoutRecorder forwards to target (an instance's
// .../backchannel-logout) until the test ends.
func newLogoutRecorder(t testing.TB, target string) *logoutRecorder {
	t.Helper()
	l := &logoutRecorder{target: target}
	srv := httptest.NewServer(http.HandlerFunc(l.serve))
	t.Cleanup(srv.Close)
	l.URL = srv.URL
	return l
}

func (l *logoutRecorder) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	form, _ := url.ParseQuery(string(body))
	resp, err := http.Post(l.target, r.Header.Get("Content-Type"), strings.NewReader(string(body)))
	status := http.StatusBadGateway
	if err == nil {
		status = resp.StatusCode
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	l.mu.Lock()
	l.got = append(l.got, postedLogout{Claims: unverifiedClaims(form.Get("logout_token")), Status: status})
	l.mu.Unlock()
	w.WriteHeader(status)
}

// For returns the logouts whose token named subject sub.
func (l *logoutRecorder) For(sub string) []postedLogout {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []postedLogout
	for _, p := range l.got {
		if p.Claims["sub"] == sub {
			out = append(out, p)
		}
	}
	return out
}

// unverifiedClaims decodes a JWT's payload without checking it, or
// returns nil.
func unverifiedClaims(jwt string) map[string]any {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// frames returns the src of each iframe of p, resolved against p's URL,
// in document order.
func frames(t testing.TB, p page) []string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	var out []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "iframe" {
			for _, a := range n.Attr {
				if a.Key == "src" {
					u, err := p.URL.Parse(a.Val)
					if err != nil {
						t.Fatalf("iframe src %q: %v", a.Val, err)
					}
					out = append(out, u.String())
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// LoadFrame loads src as a browser loads an iframe of a page of another
// site: a GET with the fetch metadata of a cross-site frame.
func (b *browser) LoadFrame(t testing.TB, src string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Dest", "iframe")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	return b.do(t, req)
}
