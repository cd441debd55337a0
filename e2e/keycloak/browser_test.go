package keycloak

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// browser is a cookie jar and a client that follows no redirect by
// itself: every hop is a page the test can look at.
type browser struct {
	c *http.Client
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is one response as a browser would see it.
type page struct {
	Method string
	URL    *url.URL
	Status int
	Header http.Header
	Body   string
}

func (p page) String() string {
	s := p.Method + " " + p.URL.String() + ": " + http.StatusText(p.Status)
	if l := p.Header.Get("Location"); l != "" {
		s += " → " + l
	}
	return s
}

// IsRedirect reports a 3xx with a Location.
func (p page) IsRedirect() bool {
	return p.Status >= 300 && p.Status < 400 && p.Header.Get("Location") != ""
}

// Location is the redirect target, resolved against the page's URL.
func (p page) Location(t testing.TB) *url.URL {
	t.Helper()
	l := p.Header.Get("Location")
	if l == "" {
		t.Fatalf("%s: no Location", p)
	}
	u, err := p.URL.Parse(l)
	if err != nil {
		t.Fatalf("%s: Location: %v", p, err)
	}
	return u
}

func (b *browser) do(t testing.TB, req *http.Request) page {
	t.Helper()
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return page{Method: req.Method, URL: req.URL, Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

// Get is a top-level navigation to u.
func (b *browser) Get(t testing.TB, u string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.do(t, req)
}

// Post submits form to u as a browser submits an HTML form; origin is the
// Origin header ("" for none).
func (b *browser) Post(t testing.TB, u string, form url.Values, origin string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return b.do(t, req)
}

// Follow follows p's redirects (GET, as browsers do after 302 and 303)
// until a page that is not one, and returns every hop after p.
func (b *browser) Follow(t testing.TB, p page) []page {
	t.Helper()
	var hops []page
	for i := 0; p.IsRedirect(); i++ {
		if i == 20 {
			t.Fatalf("more than 20 redirects from %s", hops[0])
		}
		p = b.Get(t, p.Location(t).String())
		hops = append(hops, p)
	}
	return hops
}

// Last follows p's redirects and returns the page they end on.
func (b *browser) Last(t testing.TB, p page) page {
	t.Helper()
	if hops := b.Follow(t, p); len(hops) > 0 {
		return hops[len(hops)-1]
	}
	return p
}

// Cookie is the value of the cookie name the browser would send to u.
func (b *browser) Cookie(u, name string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	for _, c := range b.c.Jar.Cookies(pu) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// --- Keycloak's pages ---

// loginForm finds Keycloak's username and password form (id kc-form-login)
// on p; ok is false when p is not Keycloak's login page.
func loginForm(p page) (f form, ok bool) {
	for _, f := range forms(p.Body) {
		if f.ID == "kc-form-login" {
			return f, true
		}
	}
	return form{}, false
}

// LogIn fills Keycloak's login form on p with u's username and password,
// submits it, and returns Keycloak's answer (a redirect to the client's
// redirect URI when the credentials are right).
func (b *browser) LogIn(t testing.TB, p page, u user) page {
	t.Helper()
	f, ok := loginForm(p)
	if !ok {
		t.Fatalf("%s: not Keycloak's login page (no form kc-form-login):\n%s", p, p.Body)
	}
	for attempt := 1; ; attempt++ {
		v := f.Values()
		v.Set("username", u.Username)
		v.Set("password", u.Password)
		if peer == nil {
			return b.Post(t, f.Resolve(t, p), v, "")
		}
		unlock := peer.oneLoginAtATime(u)
		before := peer.concurrentRefusals(u)
		next := b.Post(t, f.Resolve(t, p), v, "")
		unlock()
		// Keycloak ends a login's bookkeeping after it has answered: the
		// next login of the same user may come too soon. Only a refusal
		// Keycloak logs as such is tried again, never a wrong password.
		if next.IsRedirect() || attempt == 5 || !peer.refusedAsConcurrent(u, before) {
			return next
		}
		if f, ok = loginForm(next); !ok {
			return next
		}
		p = next
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond) // nothing to poll: the state is Keycloak's
	}
}

// --- HTML forms ---

// form is an HTML form: its attributes and its inputs in order.
type form struct {
	ID, Action, Method string
	Inputs             []input
}

type input struct{ Name, Type, Value string }

// Values are the form's named inputs (not buttons) as a browser submits them.
func (f form) Values() url.Values {
	v := url.Values{}
	for _, in := range f.Inputs {
		if in.Name != "" && in.Type != "submit" && in.Type != "button" {
			v.Add(in.Name, in.Value)
		}
	}
	return v
}

// Value is the value of the first input named name.
func (f form) Value(name string) string {
	for _, in := range f.Inputs {
		if in.Name == name {
			return in.Value
		}
	}
	return ""
}

// Resolve is the form's action as a URL, resolved against p.
func (f form) Resolve(t testing.TB, p page) string {
	t.Helper()
	u, err := p.URL.Parse(f.Action)
	if err != nil {
		t.Fatalf("form action %q: %v", f.Action, err)
	}
	return u.String()
}

// forms parses every form of an HTML page, with inputs, buttons and
// textareas.
func forms(body string) []form {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return nil
	}
	var out []form
	var cur *form
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := func(k string) string {
				for _, a := range n.Attr {
					if a.Key == k {
						return a.Val
					}
				}
				return ""
			}
			switch n.Data {
			case "form":
				out = append(out, form{ID: attr("id"), Action: attr("action"), Method: strings.ToLower(attr("method"))})
				prev := cur
				cur = &out[len(out)-1]
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
				// out may have grown: point back into it by index.
				cur = prev
				return
			case "input", "button":
				if cur != nil {
					typ := strings.ToLower(attr("type"))
					if n.Data == "button" && typ == "" {
						typ = "submit"
					}
					cur.Inputs = append(cur.Inputs, input{Name: attr("name"), Type: typ, Value: attr("value")})
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

// claims decodes a JWT's payload without checking it: for looking at what
// a token says, never for trusting it.
func claims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return m
}
