package devop_test

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// browser is a cookie-keeping client that never follows redirects, so each
// hop of a flow can be checked.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: &http.Client{
		Jar:           jar,
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is a response with its body read.
type page struct {
	URL      *url.URL
	Status   int
	Header   http.Header
	Body     string
	location *url.URL
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		b.t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	p := &page{URL: req.URL, Status: res.StatusCode, Header: res.Header, Body: string(body)}
	if loc, err := res.Location(); err == nil {
		p.location = loc
	}
	return p
}

func (b *browser) get(rawURL string) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post submits a form, with the Origin header a browser would send.
func (b *browser) post(rawURL, origin string, form url.Values) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return b.do(req)
}

// redirect checks that p redirects to a URL starting with prefix, and
// returns that URL.
func (p *page) redirect(t *testing.T, prefix string) *url.URL {
	t.Helper()
	if p.Status < 300 || p.Status > 399 || p.location == nil {
		t.Fatalf("%s: want a redirect to %s, got %d\n%s", p.URL, prefix, p.Status, excerpt(p.Body))
	}
	if !strings.HasPrefix(p.location.String(), prefix) {
		t.Fatalf("%s: want a redirect to %s, got %d to %s", p.URL, prefix, p.Status, p.location)
	}
	return p.location
}

func (p *page) ok(t *testing.T) *page {
	t.Helper()
	if p.Status != http.StatusOK {
		t.Fatalf("%s: want 200, got %d (Location %v)\n%s", p.URL, p.Status, p.location, excerpt(p.Body))
	}
	return p
}

var (
	formRe   = regexp.MustCompile(`(?is)<form\b[^>]*>.*?</form>`)
	attrRe   = regexp.MustCompile(`(?i)\b(method|action|name|value|type)\s*=\s*"([^"]*)"`)
	inputRe  = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	formTagR = regexp.MustCompile(`(?is)^<form\b[^>]*>`)
)

// form is an HTML form's method, action and hidden inputs.
type form struct {
	Method, Action string
	Hidden         url.Values
}

// findForm returns the first form on p whose action is action.
func (p *page) findForm(t *testing.T, method, action string) form {
	t.Helper()
	for _, f := range formRe.FindAllString(p.Body, -1) {
		tag := attrs(formTagR.FindString(f))
		if !strings.EqualFold(tag["method"], method) || tag["action"] != action {
			continue
		}
		out := form{Method: method, Action: action, Hidden: url.Values{}}
		for _, in := range inputRe.FindAllString(f, -1) {
			a := attrs(in)
			if strings.EqualFold(a["type"], "hidden") {
				out.Hidden.Add(a["name"], a["value"])
			}
		}
		return out
	}
	t.Fatalf("%s: no <form method=%q action=%q>\n%s", p.URL, method, action, excerpt(p.Body))
	return form{}
}

func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRe.FindAllStringSubmatch(tag, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2])
	}
	return m
}

func excerpt(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}

// resolve makes a form action absolute against the page it is on.
func (p *page) resolve(ref string) string {
	u, err := p.URL.Parse(ref)
	if err != nil {
		return ref
	}
	return u.String()
}

func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }
