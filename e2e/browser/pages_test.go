package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/rp-project/rp/internal/app/apptest"
	"github.com/rp-project/rp/internal/devop"
)

// axePath is axe-core as `npm ci --prefix e2e/provider` installs it, pinned
// in e2e/provider/package.json.
const axePath = "../provider/node_modules/axe-core/axe.min.js"

// A view is one way people see the pages: a width and a colour scheme.
type view struct {
	name   string // "1280-light"
	width  int64
	height int64
	mobile bool
	scheme string // prefers-color-scheme
}

var views = []view{
	{"1280-light", 1280, 800, false, "light"},
	{"1280-dark", 1280, 800, false, "dark"},
	{"390-light", 390, 844, true, "light"},
	{"390-dark", 390, 844, true, "dark"},
}

// firefoxOnAndroid is the User-Agent of the second browser alice signs in
// with, so that her sessions page lists two browsers.
const firefoxOnAndroid = "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0"

// TestEveryPageIsAccessible opens every page of rp in Chromium, at a
// desktop and a phone width, light and dark: the pages a signed-out and a
// signed-in user see, the 403 page, the error pages (an expired sign-in, a
// page that does not exist, the provider and the session store not
// answering) and the front-channel logout page. On each it runs axe-core
// and fails on any serious or critical violation of WCAG 2.x A and AA. It
// then checks that Back after logout shows no personal data, and that no
// page broke rp's Content-Security-Policy. With RP_SCREENSHOT_DIR set, it
// saves <page>-<width>-<scheme>.png of each there.
func TestEveryPageIsAccessible(t *testing.T) {
	needChromium(t)
	axe, err := os.ReadFile(axePath)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but axe-core is missing (%v): run npm ci --prefix e2e/provider; .ci/run does", err)
		}
		t.Skipf("axe-core is missing (%v): run npm ci --prefix e2e/provider to run the accessibility test", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	s := startPagesSetup(t, ctx)
	b := startBrowser(t, ctx, s.rpBase)
	b.axe = string(axe)
	alice := devop.DemoUsers()[0]

	b.open(s.rp("/"))
	b.wantText("Welcome", "Sign in", "Example Corp")
	if n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("header .brand img").length`)); err != nil || n != 1 {
		t.Fatalf("the header has %d logos (%v), want 1", n, err)
	}
	b.check("home-signed-out")
	b.wantFocusVisible()

	// Alice signs in on her phone first: a browser of its own, with its own
	// cookies and a Firefox on Android User-Agent.
	phone := b.newBrowserContext()
	phone.do("give the phone a Firefox on Android User-Agent", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: firefoxOnAndroid})
		return err
	}))
	phone.signIn(s.rp("/sessions"), s.issuer, alice)
	phone.wantURL(s.rp("/sessions"))
	phone.close()

	// Then on this one.
	b.signIn(s.rp("/profile"), s.issuer, alice)
	b.wantURL(s.rp("/profile"))
	b.wantText(alice.Name, alice.Email, alice.Subject, "Signed in", "just now", "Session ends", "Claims", "email_verified")
	b.wantNoStore(s.rp("/profile"))
	b.check("profile")

	b.wantNoStore(s.rp("/"))
	b.wantText("Welcome, "+alice.Name, "Your profile", "Your sessions", "Log out")
	b.check("home-signed-in")

	b.wantNoStore(s.rp("/sessions"))
	b.wantText("Your sessions", "Chrome on Linux", "This browser", "Firefox on Android", "Log out everywhere")
	b.check("sessions")

	b.open(s.rp("/logout"))
	b.wantText("Log out?", "Cancel")
	b.check("logout-confirmation")

	b.wantStatus(s.app("/admin/reports"), http.StatusForbidden)
	b.wantText("You do not have access to this page", "You are signed in as "+alice.Name, "Log out", "request id")
	b.check("forbidden")

	b.wantStatus(s.rp("/no-such-page"), http.StatusNotFound)
	b.wantText("Page not found", "Check the address", "request id")
	b.check("error-not-found")

	b.wantStatus(s.rp("/callback?state=forged&code=x"), http.StatusBadRequest)
	b.wantText("Sign-in expired", "Your sign-in took too long", "Start again", "request id")
	b.check("error-sign-in-expired")

	b.wantStatus(s.rp("/frontchannel-logout?iss="+url.QueryEscape(s.issuer)+"&sid=unknown"), http.StatusOK)
	b.wantText("Signed out")
	b.check("frontchannel-logout")

	// An rp whose provider and session store do not answer.
	b.wantStatus(s.brokenRP+"/login", http.StatusServiceUnavailable)
	b.wantText("Sign-in is unavailable", "Your organisation's sign-in service is not answering. Try again in a minute.", "request id")
	b.check("error-provider-down")
	b.do("give the browser a session cookie for the broken rp", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: "rp_session", Value: "a-session", URL: s.brokenRP + "/"})
		return err
	}))
	b.wantStatus(s.brokenRP+"/profile", http.StatusServiceUnavailable)
	b.wantText("Sessions are unavailable", "Try again in a minute", "request id")
	b.check("error-store-down")

	// Log out with the profile page's button, then go Back: the browser
	// must not show alice's data again.
	b.open(s.rp("/profile"))
	b.submit("log out", `main form[action="/_rp/logout"][method="post"] button[type="submit"]`)
	b.wantURL(s.rp("/logged-out?state="))
	b.wantText("You are signed out here and at your organisation's sign-in service.", "Sign in again")
	b.check("logged-out")

	// Back re-asks rp for the profile (no-store: no copy was kept), which
	// sends the browser into sign-in: the provider asks for credentials.
	b.back()
	b.wantNoPersonalData(s.rpBase, alice.Name, alice.Email, alice.Subject)
	b.wantURL(s.issuer + "/login?")
	b.do("find the provider's sign-in form", chromedp.WaitVisible(chromedp.ID("password")))
	b.checkConsole()
}

// pagesSetup is rp in proxy mode (its routes under /_rp, /admin for the
// group admins only, branded) in front of a small app, the development
// provider, and a second rp whose provider and session store do not
// answer.
type pagesSetup struct {
	rpBase, issuer, brokenRP string
}

func (s pagesSetup) rp(path string) string  { return s.rpBase + "/_rp" + path }
func (s pagesSetup) app(path string) string { return s.rpBase + path }

func startPagesSetup(t *testing.T, ctx context.Context) pagesSetup {
	t.Helper()
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "app page %s\n", r.URL.Path)
	})}
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Serve(appLn)
	t.Cleanup(func() { app.Close() })

	ln, rpBase := apptest.Listen(t, "localhost")
	op := startDevProvider(t, ctx, ln, rpBase, "/_rp")
	logo := filepath.Join(t.TempDir(), "logo.svg")
	if err := os.WriteFile(logo, []byte(exampleLogo), 0o644); err != nil {
		t.Fatal(err)
	}
	apptest.Serve(t, ln, map[string]string{
		"RP_ISSUER":        op.Issuer,
		"RP_CLIENT_ID":     "rp-dev",
		"RP_CLIENT_SECRET": "rp-dev-secret",
		"RP_BASE_URL":      rpBase,
		"RP_SESSION_STORE": "memory",
		"RP_LOG_LEVEL":     "warn",
		"RP_UPSTREAM":      "http://" + appLn.Addr().String(),
		"RP_PATH_PREFIX":   "/_rp",
		"RP_PATH_RULES":    "/admin=admins",
		"RP_BRAND_NAME":    "Example Corp",
		"RP_BRAND_LOGO":    logo,
	}, nil)

	// 127.0.0.1, not localhost: its cookies are its own.
	brokenLn, brokenRP := apptest.Listen(t, "127.0.0.1")
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := closed.Addr().String()
	closed.Close()
	apptest.Start(t, brokenLn, map[string]string{
		"RP_ISSUER":                "http://" + nobody,
		"RP_CLIENT_ID":             "rp-dev",
		"RP_CLIENT_SECRET":         "rp-dev-secret",
		"RP_BASE_URL":              brokenRP,
		"RP_SESSION_STORE":         "redis://" + nobody + "/0",
		"RP_SESSION_STORE_TIMEOUT": "500ms",
		"RP_PROVIDER_TIMEOUT":      "1s",
		"RP_LOG_LEVEL":             "error",
		"RP_BRAND_NAME":            "Example Corp",
		"RP_BRAND_LOGO":            logo,
	}, nil)
	return pagesSetup{rpBase: rpBase, issuer: op.Issuer, brokenRP: brokenRP}
}

// exampleLogo is the logo of the test's organisation.
const exampleLogo = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="8" fill="#1d4ed8"/>
<path d="M9 22V10h9a4 4 0 0 1 0 8h-9m7 0 5 4" fill="none" stroke="#fff" stroke-width="2.5" stroke-linecap="round" stroke-linejoin="round"/>
</svg>`

// newBrowserContext opens a tab in a browser context of its own: another
// cookie jar, as another device would have.
func (b *browser) newBrowserContext() *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	other := &browser{t: b.t, ctx: ctx, rpBase: b.rpBase, closeTab: cancel}
	if err := chromedp.Listen(ctx, other.record); err != nil {
		cancel()
		b.t.Fatalf("opening a tab in a new browser context: %v", err)
	}
	b.t.Cleanup(cancel)
	return other
}

// close closes a tab opened by newBrowserContext.
func (b *browser) close() {
	if b.closeTab != nil {
		b.closeTab()
	}
}

// signIn opens target, which sends the browser to the provider's form, and
// signs in as u.
func (b *browser) signIn(target, issuer string, u devop.User) {
	b.t.Helper()
	b.open(target)
	b.wantURL(issuer + "/login?")
	b.do("fill in the sign-in form",
		chromedp.SendKeys(chromedp.ID("username"), u.Username),
		chromedp.SendKeys(chromedp.ID("password"), u.Password))
	b.submit("sign in", `form[action="/login"] button[type="submit"]`)
}

// wantStatus opens url and checks the status of its answer.
func (b *browser) wantStatus(url string, status int64) {
	b.t.Helper()
	if resp := b.open(url); resp == nil || resp.Status != status {
		got := "no response"
		if resp != nil {
			got = fmt.Sprint(resp.Status)
		}
		b.fatalf("%s answered %s, want %d", url, got, status)
	}
}

// wantNoStore opens url and checks that the browser may keep no copy of it.
func (b *browser) wantNoStore(url string) {
	b.t.Helper()
	resp := b.open(url)
	if resp == nil {
		b.fatalf("%s: no response", url)
	}
	var cc string
	for k, v := range resp.Headers {
		if strings.EqualFold(k, "Cache-Control") {
			cc = fmt.Sprint(v)
		}
	}
	if cc != "no-store" {
		b.errorf("%s: Cache-Control %q, want no-store: it holds personal data", url, cc)
	}
}

// back goes back one page in the tab's history, as the Back button does.
func (b *browser) back() {
	b.t.Helper()
	b.do("go back", chromedp.NavigateBack())
}

// wantNoPersonalData checks that the page shown, when it is one of rp's
// (at origin), holds none of the strings in its text or its markup. The
// development provider's sign-in form lists its demo users: it is not
// rp's to check.
func (b *browser) wantNoPersonalData(origin string, data ...string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		b.fatalf("reading the page: %v", err)
	}
	loc := b.location()
	b.t.Logf("after logout, Back shows %s", loc)
	if !strings.HasPrefix(loc, origin+"/") {
		if strings.Contains(html, data[len(data)-1]) {
			b.errorf("after logout, Back shows %s, which holds %q", loc, data[len(data)-1])
		}
		return
	}
	for _, d := range data {
		if strings.Contains(html, d) {
			b.errorf("after logout, Back shows %s, which holds %q:\n%s", loc, d, html)
		}
	}
}

// check looks at the current page in every view: rp's stylesheet applies,
// axe-core finds no serious or critical violation, and a screenshot is
// saved as <name>-<view>.png when RP_SCREENSHOT_DIR is set.
func (b *browser) check(name string) {
	b.t.Helper()
	b.wantStylesheet()
	b.wantImagesLoaded()
	b.injectAxe()
	for _, v := range views {
		b.emulate(v)
		b.runAxe(name, v)
		b.shotAs(name + "-" + v.name)
	}
	b.emulate(views[0])
}

// wantImagesLoaded checks that every image of the page (the logo) loaded:
// rp serves it, and img-src 'self' lets it in.
func (b *browser) wantImagesLoaded() {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	broken, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)`))
	if err != nil {
		b.fatalf("reading the page's images: %v", err)
	}
	if len(broken) > 0 {
		b.errorf("page %s shows images that did not load: %v", b.location(), broken)
	}
}

// wantFocusVisible presses Tab twice, as a keyboard user would: the first
// stop is the skip link, shown on screen, and each stop has a visible focus
// ring.
func (b *browser) wantFocusVisible() {
	b.t.Helper()
	for i, want := range []string{"Skip to content", "Example Corp"} {
		b.do("press Tab", chromedp.KeyEvent("\t"))
		ctx, cancel := b.step()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => {
			const e = document.activeElement, s = getComputedStyle(e), r = e.getBoundingClientRect();
			return {text: e.textContent.trim(), outline: s.outlineStyle, width: parseFloat(s.outlineWidth), top: r.top, visible: e.matches(":focus-visible")};
		})()`))
		cancel()
		if err != nil {
			b.fatalf("reading the focused element: %v", err)
		}
		if got["text"] != want || got["outline"] == "none" || got["width"].(float64) < 2 || got["top"].(float64) < 0 || got["visible"] != true {
			b.errorf("Tab stop %d: %v; want %q on screen with a focus ring of 2 px or more", i+1, got, want)
		}
	}
}

// emulate sets the viewport and the colour scheme of v, and waits until
// the page is drawn with them.
func (b *browser) emulate(v view) {
	b.t.Helper()
	b.do("emulate "+v.name,
		chromedp.EmulateViewport(v.width, v.height, func(p1 *emulation.SetDeviceMetricsOverrideParams, p2 *emulation.SetTouchEmulationEnabledParams) {
			p1.Mobile = v.mobile
			p2.Enabled = v.mobile
		}),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v.scheme}},
			})
			return err
		}),
	)
	ctx, cancel := b.step()
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(innerWidth + "-" + (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light")))))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.fatalf("waiting for %s: %v", v.name, err)
	}
	if got != v.name {
		b.fatalf("the page is drawn at %s, want %s", got, v.name)
	}
}

// injectAxe evaluates axe-core in the page. Runtime.evaluate runs it
// although rp's CSP allows no script at all: the protocol's evaluation is
// not the page's.
func (b *browser) injectAxe() {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	version, err := chromedp.Run(ctx, chromedp.Evaluate[string](b.axe+"\n;axe.version"))
	if err != nil {
		b.fatalf("injecting axe-core: %v", err)
	}
	if version == "" {
		b.fatalf("axe-core did not load")
	}
}

// axeResult is the part of axe.run's answer the test reports.
type axeResult struct {
	Passes     int `json:"passes"` // rules that found nothing wrong
	Violations []struct {
		ID      string `json:"id"`
		Impact  string `json:"impact"`
		Help    string `json:"help"`
		HelpURL string `json:"helpUrl"`
		Nodes   []struct {
			Target         []any  `json:"target"`
			HTML           string `json:"html"`
			FailureSummary string `json:"failureSummary"`
		} `json:"nodes"`
	} `json:"violations"`
	Incomplete []struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Nodes  []any  `json:"nodes"`
	} `json:"incomplete"`
}

// runAxe runs axe-core's WCAG 2.x A and AA rules on the page as drawn now;
// a serious or critical violation fails the test, a lesser one is logged.
func (b *browser) runAxe(page string, v view) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {
		runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]},
		resultTypes: ["violations", "incomplete"],
	}).then(r => JSON.stringify({passes: r.passes.length, violations: r.violations, incomplete: r.incomplete}))`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fatalf("running axe-core on %s (%s): %v", page, v.name, err)
	}
	var res axeResult
	if err := json.Unmarshal([]byte(raw), &res); err != nil {
		b.fatalf("axe-core's answer: %v", err)
	}
	if res.Passes == 0 {
		b.fatalf("axe-core checked nothing on %s (%s)", page, v.name)
	}
	b.t.Logf("axe-core on %s (%s): %d rules passed, %d violated, %d to review", page, v.name, res.Passes, len(res.Violations), len(res.Incomplete))
	for _, viol := range res.Violations {
		var nodes []string
		for _, n := range viol.Nodes {
			nodes = append(nodes, fmt.Sprintf("    %v %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.FailureSummary, "\n", "\n      ")))
		}
		msg := fmt.Sprintf("axe-core on %s (%s): %s violation %s: %s (%s)\n%s",
			page, v.name, viol.Impact, viol.ID, viol.Help, viol.HelpURL, strings.Join(nodes, "\n"))
		if viol.Impact == "serious" || viol.Impact == "critical" {
			b.errorf("%s", msg)
		} else {
			b.t.Logf("%s", msg)
		}
	}
	for _, inc := range res.Incomplete {
		b.t.Logf("axe-core on %s (%s): %s needs a person to review %d element(s)", page, v.name, inc.ID, len(inc.Nodes))
	}
}

// shotAs saves a full-page PNG as RP_SCREENSHOT_DIR/<name>.png.
func (b *browser) shotAs(name string) {
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
	path := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.fatalf("saving %s: %v", path, err)
	}
}
