// Package browser drives a real, headless Chromium through rp and the
// development provider. Only a browser enforces rp's Content-Security-Policy,
// and in particular checks the logout form's 303 redirect to the provider's
// end_session_endpoint against form-action: an http.Client cannot prove that
// logout works.
//
// The test needs Debian's chromium at /usr/bin/chromium. Without it the test
// is skipped, unless CI is set: then it fails. With RP_SCREENSHOT_DIR set, it
// saves a PNG of each page it visits there.
package browser

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/audits"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/rp-project/rp/internal/app/apptest"
	"github.com/rp-project/rp/internal/devop"
)

const chromiumPath = "/usr/bin/chromium"

// needChromium skips the test without Debian's chromium, or fails it when
// CI is set.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s is missing (%v): install Debian's chromium (apt-get install chromium); .ci/run does", chromiumPath, err)
		}
		t.Skipf("%s is missing: install Debian's chromium (apt-get install chromium) to run the real-browser test", chromiumPath)
	}
}

// TestSignInAndLogoutInChromium signs alice in through the provider's form,
// logs her out with the profile page's button, and checks that the provider
// asks for credentials again, all in Chromium, with no CSP violation on the
// way.
func TestSignInAndLogoutInChromium(t *testing.T) {
	needChromium(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	rpBase, issuer := startRPAndProvider(t, ctx)
	b := startBrowser(t, ctx, rpBase)
	alice := devop.DemoUsers()[0]

	// Sign in: rp's /profile → the provider's form → back at /profile.
	b.open(rpBase + "/profile")
	b.wantURL(issuer + "/login?")
	b.shot("provider-login")
	b.do("fill in the sign-in form",
		chromedp.SendKeys(chromedp.ID("username"), alice.Username),
		chromedp.SendKeys(chromedp.ID("password"), alice.Password))
	b.submit("sign in", `form[action="/login"] button[type="submit"]`)
	b.wantURL(rpBase + "/profile")
	b.wantText(alice.Name, alice.Email, alice.Subject)
	b.wantStylesheet()
	b.shot("profile")

	b.open(rpBase + "/")
	b.wantText("Welcome, " + alice.Name)
	b.wantStylesheet()
	b.shot("home-signed-in")

	b.open(rpBase + "/logout")
	b.wantText("Log out?")
	b.wantStylesheet()
	b.shot("logout-confirmation")

	// Log out with the profile page's button: POST /logout → 303 to the
	// provider's end_session_endpoint → 302 back to /logged-out. Chromium
	// checks both redirects against rp's form-action.
	b.open(rpBase + "/profile")
	b.submit("log out", `main form[action="/logout"][method="post"] button[type="submit"]`)
	b.wantURL(rpBase + "/logged-out?state=")
	b.wantText("You are signed out here and at your organisation's sign-in service.")
	b.wantStylesheet()
	b.shot("logged-out")
	b.wantRequests("POST "+rpBase+"/logout", "GET "+issuer+"/end_session?", "GET "+rpBase+"/logged-out?state=")

	// An error page, as a browser sees it.
	b.open(rpBase + "/callback?state=x")
	b.wantStylesheet()
	b.shot("error-callback")

	// Both sessions ended: the provider asks for credentials again.
	b.open(rpBase + "/profile")
	b.wantURL(issuer + "/login?")
	b.do("find the sign-in form", chromedp.WaitVisible(chromedp.ID("password")))
	b.shot("provider-login-again")

	b.checkConsole()
}

// startDevProvider starts the development provider with rp (at rpBase,
// routes under prefix) registered as rp-dev, until the test ends. It closes
// rp's listener ln when the provider cannot start.
func startDevProvider(t *testing.T, ctx context.Context, ln net.Listener, rpBase, prefix string) *devop.Provider {
	t.Helper()
	op, err := devop.Start(ctx, devop.Options{
		Addr:                   "127.0.0.1:0",
		Issuer:                 "http://localhost:0",
		ClientID:               "rp-dev",
		ClientSecret:           "rp-dev-secret",
		RedirectURIs:           []string{rpBase + prefix + "/callback"},
		PostLogoutRedirectURIs: []string{rpBase + prefix + "/logged-out"},
	})
	if err != nil {
		ln.Close()
		t.Fatalf("devop.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := op.Close(); err != nil {
			t.Errorf("closing the provider: %v", err)
		}
	})
	return op
}

// startRPAndProvider starts the development provider and rp in-process, as
// cmd/rp-dev does, both named localhost so that the browser keeps one cookie
// jar per host, and returns rp's base URL and the issuer.
func startRPAndProvider(t *testing.T, ctx context.Context) (rpBase, issuer string) {
	t.Helper()
	ln, rpBase := apptest.Listen(t, "localhost")
	op := startDevProvider(t, ctx, ln, rpBase, "")
	apptest.Serve(t, ln, map[string]string{
		"RP_ISSUER":        op.Issuer,
		"RP_CLIENT_ID":     "rp-dev",
		"RP_CLIENT_SECRET": "rp-dev-secret",
		"RP_BASE_URL":      rpBase,
		"RP_SESSION_STORE": "memory",
		"RP_LOG_LEVEL":     "warn",
	}, nil)
	return rpBase, op.Issuer
}

// browser is one Chromium tab and what it reported: console messages, CSP
// issues, failed loads and the document requests with their redirects.
type browser struct {
	t      *testing.T
	ctx    context.Context
	rpBase string
	shots  string // RP_SCREENSHOT_DIR, or "" to save nothing
	n      int    // screenshots taken
	axe    string // axe-core's source, for TestEveryPageIsAccessible

	closeTab context.CancelFunc // of a tab from newBrowserContext

	mu       sync.Mutex
	console  []string // every console message and browser log entry
	csp      []string // every CSP violation, from the log or the issues panel
	failed   []string // loads that failed, other than aborted ones
	requests []string // document requests, "METHOD URL", redirects included
}

func startBrowser(t *testing.T, ctx context.Context, rpBase string) *browser {
	t.Helper()
	out := &syncBuffer{}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// A closed network refuses Chromium's own connections; these keep
		// it from trying.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 768),
		chromedp.CombinedOutput(out),
	)
	var logMu sync.Mutex
	logDone := false
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		if !logDone {
			t.Logf("chromedp: "+format, args...)
		}
	}
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits until Chromium has exited
		logMu.Lock()
		logDone = true
		logMu.Unlock()
		if t.Failed() && out.Len() > 0 {
			t.Logf("Chromium's output:\n%s", out.String())
		}
	})

	b := &browser{t: t, ctx: tabCtx, rpBase: rpBase, shots: os.Getenv("RP_SCREENSHOT_DIR")}
	// Listen starts Chromium and the tab on tabCtx itself, so that the tab
	// lives as long as the test; later steps use shorter child contexts.
	if err := chromedp.Listen(tabCtx, b.record); err != nil {
		t.Fatalf("starting Chromium: %v\n%s", err, out.String())
	}
	if _, err := chromedp.Call(tabCtx, audits.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("Audits.enable: %v", err)
	}
	if b.shots != "" {
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			t.Fatalf("RP_SCREENSHOT_DIR: %v", err)
		}
	}
	return b
}

// record runs on chromedp's reading goroutine, in the order of the events:
// when a step returns, the events that came before its reply are recorded.
func (b *browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *log.EventEntryAdded:
		e := ev.Entry
		msg := fmt.Sprintf("log %s/%s: %s (%s)", e.Source, e.Level, e.Text, e.URL)
		b.console = append(b.console, msg)
		if strings.Contains(e.Text, "Content Security Policy") {
			b.csp = append(b.csp, msg)
		}
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if a.Value != nil {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		msg := fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " "))
		b.console = append(b.console, msg)
		if strings.Contains(msg, "Content Security Policy") {
			b.csp = append(b.csp, msg)
		}
	case *runtime.EventExceptionThrown:
		msg := "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			msg += " " + ev.ExceptionDetails.Exception.Description
		}
		b.console = append(b.console, msg)
	case *audits.EventIssueAdded:
		if d := ev.Issue.Details; ev.Issue.Code == audits.InspectorIssueCodeContentSecurityPolicyIssue && d != nil && d.ContentSecurityPolicyIssueDetails != nil {
			c := d.ContentSecurityPolicyIssueDetails
			b.csp = append(b.csp, fmt.Sprintf("issue: Content Security Policy directive %q blocked %q (%s)",
				c.ViolatedDirective, c.BlockedURL, c.ContentSecurityPolicyViolationType))
		}
	case *network.EventRequestWillBeSent:
		if ev.Type == network.ResourceTypeDocument {
			if r := ev.RedirectResponse; r != nil {
				b.requests = append(b.requests, fmt.Sprintf("  %d, redirected to", r.Status))
			}
			b.requests = append(b.requests, ev.Request.Method+" "+shorten(ev.Request.URL))
		}
	case *network.EventLoadingFailed:
		if ev.BlockedReason == network.BlockedReasonCsp {
			b.csp = append(b.csp, fmt.Sprintf("load blocked by Content Security Policy: %s %s", ev.Type, ev.ErrorText))
		} else if !ev.Canceled {
			b.failed = append(b.failed, fmt.Sprintf("%s %s %s", ev.Type, ev.ErrorText, ev.BlockedReason))
		}
	}
}

// step returns a context for one step: at most 15 seconds.
func (b *browser) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, 15*time.Second)
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fatalf("%s: %v", what, err)
	}
}

// open navigates to url, waits for the page (after any redirects) to load,
// and returns the answer of its last request.
func (b *browser) open(url string) *network.Response {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		b.fatalf("opening %s: %v", url, err)
	}
	return resp
}

// submit clicks the button sel, as a person would, and waits until the
// navigation it starts, redirects included, has loaded.
func (b *browser) submit(what, sel string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.fatalf("%s (clicking %s): %v", what, sel, err)
	}
	b.t.Logf("%s: %d %s", what, resp.Status, resp.URL)
}

func (b *browser) location() string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.fatalf("reading the location: %v", err)
	}
	return loc
}

// wantURL checks that the page's URL starts with prefix.
func (b *browser) wantURL(prefix string) {
	b.t.Helper()
	if loc := b.location(); !strings.HasPrefix(loc, prefix) {
		b.fatalf("the browser is at %s, want %s…", loc, prefix)
	}
}

// wantText checks that the page's visible text holds every string.
func (b *browser) wantText(want ...string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		b.fatalf("reading the page's text: %v", err)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			b.fatalf("page %s lacks %q; it says:\n%s", b.location(), w, text)
		}
	}
}

// wantStylesheet checks that the page loaded rp's stylesheet and that its
// rules apply (style-src 'self' allows it).
func (b *browser) wantStylesheet() {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](
		`Array.from(document.styleSheets).filter(s => s.href && new URL(s.href).pathname.endsWith("/static/style.css")).reduce((n, s) => n + s.cssRules.length, 0)`))
	if err != nil {
		b.fatalf("reading the page's stylesheets: %v", err)
	}
	if n == 0 {
		b.errorf("page %s has no rules from rp's /static/style.css: the stylesheet did not load or apply", b.location())
	}
}

// wantRequests checks that the browser made document requests starting
// with the given "METHOD URL" prefixes one after the other, redirects
// between them allowed.
func (b *browser) wantRequests(prefixes ...string) {
	b.t.Helper()
	b.mu.Lock()
	var docs []string
	for _, r := range b.requests {
		if !strings.HasPrefix(r, " ") {
			docs = append(docs, r)
		}
	}
	all := strings.Join(b.requests, "\n")
	b.mu.Unlock()
	for i := 0; i+len(prefixes) <= len(docs); i++ {
		match := true
		for j, p := range prefixes {
			match = match && strings.HasPrefix(docs[i+j], p)
		}
		if match {
			return
		}
	}
	b.errorf("the browser did not request %q in a row; it asked for:\n%s", prefixes, all)
}

// shot saves a full-page PNG of the current page to RP_SCREENSHOT_DIR.
func (b *browser) shot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	ctx, cancel := b.step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fatalf("screenshot %s: %v", name, err)
	}
	b.n++
	path := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.fatalf("saving %s: %v", path, err)
	}
	b.t.Logf("screenshot %s", path)
}

// checkConsole fails on every CSP violation and logs the rest of what the
// browser reported.
func (b *browser) checkConsole() {
	b.t.Helper()
	b.settle(300 * time.Millisecond)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.csp {
		b.t.Errorf("Content Security Policy violation: %s", c)
	}
	for _, f := range b.failed {
		b.t.Logf("failed load: %s", f)
	}
	for _, c := range b.console {
		b.t.Logf("browser console: %s", c)
	}
	b.t.Logf("document requests:\n%s", strings.Join(b.requests, "\n"))
}

func (b *browser) errorf(format string, args ...any) {
	b.t.Helper()
	b.t.Errorf(format, args...)
}

// settle waits up to d for a CSP violation to be reported: Chromium logs a
// blocked form submission a little after the navigation fails.
func (b *browser) settle(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		b.mu.Lock()
		n := len(b.csp)
		b.mu.Unlock()
		if n > 0 {
			return
		}
	}
}

// fatalf reports what the browser saw so far, then stops the test.
func (b *browser) fatalf(format string, args ...any) {
	b.t.Helper()
	b.settle(time.Second)
	page := b.lastPage()
	b.mu.Lock()
	console := strings.Join(b.console, "\n")
	csp := strings.Join(b.csp, "\n")
	requests := strings.Join(b.requests, "\n")
	b.mu.Unlock()
	b.t.Fatalf(format+"\n%s\nCSP violations:\n%s\nconsole:\n%s\ndocument requests:\n%s",
		append(args, page, csp, console, requests)...)
}

// lastPage describes the page the browser shows, best effort, and saves a
// screenshot of it when RP_SCREENSHOT_DIR is set.
func (b *browser) lastPage() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return fmt.Sprintf("(the page cannot be read: %v)", err)
	}
	text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if b.shots != "" {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			path := filepath.Join(b.shots, "failure.png")
			if os.WriteFile(path, png, 0o644) == nil {
				loc += " (screenshot " + path + ")"
			}
		}
	}
	return fmt.Sprintf("page %s says:\n%s", loc, text)
}

// shorten cuts long query values (codes, ID tokens) out of a URL for the
// log.
func shorten(u string) string {
	path, query, ok := strings.Cut(u, "?")
	if !ok {
		return u
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		if k, v, ok := strings.Cut(p, "="); ok && len(v) > 64 {
			params[i] = k + "=" + v[:12] + "…"
		}
	}
	return path + "?" + strings.Join(params, "&")
}

// syncBuffer collects Chromium's output, written from another goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Len()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
