package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/testprovider"
)

// metricValue is the value of the sample whose name and labels are line's
// start, or "" when there is none.
func metricValue(body, series string) string {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestMetricsCountWhatHappens: sign-ins, logouts of each kind, rejected
// tokens, provider requests, refreshes and proxied requests are counted,
// with labels from fixed sets only: no user, path or token ever appears.
func TestMetricsCountWhatHappens(t *testing.T) {
	h, _ := newProxy(t, withEnv("RP_PATH_RULES", "/admin=admins"), withEnv("RP_METRICS_ADDR", "main"))
	shortTokens(h.op)
	h.signInVia("/reports/secret-report-name?token=query-secret")
	h.get("/page")
	h.browse("/admin") // 403
	untilDue()
	h.get("/page") // refresh

	// A back-channel logout token refused, then one accepted.
	form := url.Values{"logout_token": {h.op.LogoutToken(h.op.LogoutClaims("alice", "nope"), testprovider.TokenHeader{Alg: "none", None: true})}}
	h.post("/_rp/backchannel-logout", form, nil)
	form = url.Values{"logout_token": {h.op.LogoutToken(h.op.LogoutClaims("alice", ""), testprovider.TokenHeader{})}}
	if r := h.post("/_rp/backchannel-logout", form, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("back-channel logout: %d %s", r.StatusCode, r.body)
	}

	r := h.get("/_rp/metrics")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("/_rp/metrics: %d", r.StatusCode)
	}
	for series, want := range map[string]string{
		`rp_signins_total{reason="",result="success"}`:                 "1",
		`rp_logouts_total{kind="backchannel"}`:                         "1",
		`rp_token_refreshes_total{result="ok"}`:                        "1",
		`rp_proxied_requests_total{class="2xx"}`:                       "2",
		`rp_proxied_requests_total{class="3xx"}`:                       "1", // into sign-in
		`rp_proxied_requests_total{class="4xx"}`:                       "1", // the rules' 403
		`rp_provider_requests_total{endpoint="token",result="2xx"}`:    "2", // code, refresh
		`rp_provider_requests_total{endpoint="userinfo",result="2xx"}`: "",
	} {
		if got := metricValue(r.body, series); got != want {
			t.Errorf("%s = %q, want %s", series, got, want)
		}
	}
	if !regexp.MustCompile(`rp_tokens_rejected_total\{reason="[^"]+",token="logout_token"\} 1`).MatchString(r.body) {
		t.Error("the refused logout token is not counted")
	}
	if metricValue(r.body, `rp_provider_requests_total{endpoint="discovery",result="2xx"}`) == "" {
		t.Error("discovery is not counted")
	}
	for _, name := range []string{"rp_store_reads_total", "rp_store_writes_total", "rp_store_errors_total",
		"rp_provider_request_duration_seconds_bucket", "rp_proxied_request_duration_seconds_bucket", "go_goroutines"} {
		if !strings.Contains(r.body, name) {
			t.Errorf("%s is missing", name)
		}
	}
	for _, secret := range []string{"alice", "secret-report-name", "query-secret", "/page", "/admin", "at-", "rt-", h.op.ClientSecret} {
		if strings.Contains(r.body, secret) {
			t.Errorf("the metrics hold %q: labels must never carry users, paths or tokens", secret)
		}
	}
}

// TestMetricsElsewhere: with RP_METRICS_ADDR, the main listener has no
// /metrics (the app behind rp gets the path).
func TestMetricsElsewhere(t *testing.T) {
	h, a := newProxy(t, withEnv("RP_METRICS_ADDR", "127.0.0.1:0"), withEnv("RP_PATH_PREFIX", ""))
	h.signInVia("/")
	if r := h.get("/metrics"); !strings.HasPrefix(r.body, "app page /metrics") {
		t.Fatalf("/metrics on the main listener with RP_METRICS_ADDR: %d %.80q", r.StatusCode, r.body)
	}
	if len(a.requests()) == 0 {
		t.Fatal("the app did not get /metrics")
	}
}

// TestMetricsOffByDefault: without RP_METRICS_ADDR, anyone who reaches rp
// does not read its metrics: rp's main listener has no /metrics, under
// the prefix or not (in proxy mode without a prefix the path is the app's).
func TestMetricsOffByDefault(t *testing.T) {
	h := newHarness(t)
	if r := h.get("/metrics"); r.StatusCode != http.StatusNotFound || strings.Contains(r.body, "rp_") {
		t.Errorf("/metrics with the default settings: %d %.80q, want 404", r.StatusCode, r.body)
	}
	p, a := newProxy(t, withEnv("RP_PATH_PREFIX", ""))
	p.signInVia("/")
	if r := p.get("/metrics"); !strings.HasPrefix(r.body, "app page /metrics") {
		t.Errorf("/metrics in proxy mode with the default settings: %d %.80q, want the app's page", r.StatusCode, r.body)
	}
	if len(a.requests()) == 0 {
		t.Error("the app did not get /metrics")
	}
	q, _ := newProxy(t)
	if r := q.get("/_rp/metrics"); r.StatusCode != http.StatusNotFound || strings.Contains(r.body, "rp_") {
		t.Errorf("/_rp/metrics with the default settings: %d %.80q, want 404", r.StatusCode, r.body)
	}
}

// TestMetricsOnMain: RP_METRICS_ADDR=main serves /metrics on the main
// listener, under the prefix, as rp did before it had to be asked.
func TestMetricsOnMain(t *testing.T) {
	h := newHarness(t, withEnv("RP_METRICS_ADDR", "main"))
	if r := h.get("/metrics"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "rp_store_reads_total") {
		t.Errorf("/metrics with RP_METRICS_ADDR=main: %d %.80q", r.StatusCode, r.body)
	}
}
