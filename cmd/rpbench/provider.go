package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/testprovider"
)

// The OpenID provider is internal/testprovider, run in rpbench's process:
// it approves every authorization request at once (as a provider where the
// user already has a session would), issues RS256-signed ID tokens and
// checks PKCE, the client's secret and the redirect URI. It takes part in
// sign-ins only, never in the measured requests.

// tbShim is the little of testing.TB that testprovider.New uses (Helper,
// Cleanup, Fatal*); any other method would panic on the nil embedded TB.
type tbShim struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

func (t *tbShim) Helper()                         {}
func (t *tbShim) Cleanup(f func())                { t.mu.Lock(); t.cleanups = append(t.cleanups, f); t.mu.Unlock() }
func (t *tbShim) Fatal(args ...any)               { panic(fmt.Sprint(args...)) }
func (t *tbShim) Fatalf(format string, a ...any)  { panic(fmt.Sprintf(format, a...)) }
func (t *tbShim) Logf(format string, args ...any) {}
func (t *tbShim) Name() string                    { return "rpbench" }

func (t *tbShim) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}

// startProvider starts the test provider; stop closes it.
func startProvider() (p *testprovider.Provider, stop func()) {
	tb := &tbShim{}
	p = testprovider.New(tb)
	return p, tb.close
}

// Browser is a cookie-keeping HTTP client that follows redirects and
// remembers where it went.
type Browser struct {
	*http.Client
	Hops []string // "[host label ]path (status)" of every answer, in order
	// Names label hosts (host:port) in Hops; a host labelled "" shows as its path alone.
	Names map[string]string
}

// NewBrowser returns a browser; names label hosts in Hops, e.g.
// {"127.0.0.1:9000": "provider"}.
func NewBrowser(names map[string]string) *Browser {
	jar, _ := cookiejar.New(nil)
	b := &Browser{Names: names}
	b.Client = &http.Client{Jar: jar, Timeout: 20 * time.Second}
	return b
}

// Navigate gets url as a browser navigation (Accept: text/html) and follows
// the redirects, recording each hop. It returns the last answer, body
// read.
func (b *Browser) Navigate(raw string) (*http.Response, []byte, error) {
	next := raw
	for range 20 {
		req, err := http.NewRequest(http.MethodGet, next, nil)
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) rpbench")
		client := *b.Client
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		r, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		body, err := readAllLimit(r, 1<<20)
		if err != nil {
			return nil, nil, err
		}
		b.Hops = append(b.Hops, fmt.Sprintf("%s (%d)", b.short(req.URL), r.StatusCode))
		if r.StatusCode/100 != 3 {
			return r, body, nil
		}
		loc, err := req.URL.Parse(r.Header.Get("Location"))
		if err != nil {
			return nil, nil, fmt.Errorf("redirect to %q: %w", r.Header.Get("Location"), err)
		}
		next = loc.String()
	}
	return nil, nil, fmt.Errorf("more than 20 redirects: %s", strings.Join(b.Hops, " → "))
}

// CookieHeader is the Cookie header the browser would send to u.
func (b *Browser) CookieHeader(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	var parts []string
	for _, c := range b.Jar.Cookies(pu) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// short is the URL without its query, which holds codes and state, and
// with its host named when Names has it.
func (b *Browser) short(u *url.URL) string { return shortURL(u, b.Names) }

// shortURL is u without its query, with its host named when names has it.
func shortURL(u *url.URL, names map[string]string) string {
	s := u.Scheme + "://" + u.Host
	if name, ok := names[u.Host]; ok {
		s = name
	} else if u.Host == "" { // a relative redirect
		s = ""
	}
	if s != "" {
		s += " "
	}
	s += u.Path
	if u.RawQuery != "" {
		s += "?…"
	}
	return s
}

func readAllLimit(r *http.Response, n int64) ([]byte, error) {
	defer r.Body.Close()
	return io.ReadAll(io.LimitReader(r.Body, n))
}
