// Package metrics holds rp's Prometheus metrics: one registry per rp, no
// globals, and labels from small fixed sets only (never a user, a path or a
// token). Every method is safe on a nil *Metrics, which records nothing.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are rp's counters and histograms.
type Metrics struct {
	reg              *prometheus.Registry
	signIns          *prometheus.CounterVec
	logouts          *prometheus.CounterVec
	rejected         *prometheus.CounterVec
	providerRequests *prometheus.CounterVec
	providerDuration *prometheus.HistogramVec
	refreshes        *prometheus.CounterVec
	proxied          *prometheus.CounterVec
	proxiedByClass   [len(classes) + 1]prometheus.Counter // looked up once: every proxied request counts
	proxiedDuration  prometheus.Histogram
}

// New returns rp's metrics in a registry of their own, with Go's runtime
// and the process's collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rp_signins_total",
			Help: "Completed sign-ins (the callback), by result and, for failures, reason."}, []string{"result", "reason"}),
		logouts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rp_logouts_total",
			Help: "Sessions ended, by how: rp_initiated, local_only, backchannel, frontchannel, refresh_refused, your_sessions."}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rp_tokens_rejected_total",
			Help: "Tokens refused, by token (id_token, logout_token) and reason."}, []string{"token", "reason"}),
		providerRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rp_provider_requests_total",
			Help: "Requests to the provider, by endpoint and result (the HTTP status class, or error)."}, []string{"endpoint", "result"}),
		providerDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rp_provider_request_duration_seconds",
			Help: "How long the provider took to answer, by endpoint.", Buckets: prometheus.DefBuckets}, []string{"endpoint"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rp_token_refreshes_total",
			Help: "Token refreshes, by result: ok, refused (the session ended), failed (the session went on)."}, []string{"result"}),
		proxied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rp_proxied_requests_total",
			Help: "Requests answered in proxy mode outside rp's routes, by status class (rp's own 401, 403, 502 and 504 included)."}, []string{"class"}),
		proxiedDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rp_proxied_request_duration_seconds",
			Help:    "How long proxied requests took, until the answer's header was written or the stream ended.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
	}
	for i, c := range classes {
		m.proxiedByClass[i] = m.proxied.WithLabelValues(c)
	}
	m.proxiedByClass[len(classes)] = m.proxied.WithLabelValues("other")
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.signIns, m.logouts, m.rejected, m.providerRequests, m.providerDuration, m.refreshes, m.proxied, m.proxiedDuration)
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// StoreStats reports the session store's round trips and errors on every
// scrape.
func (m *Metrics) StoreStats(stats func() (reads, writes, errors uint64)) {
	if m == nil {
		return
	}
	counter := func(name, help string, pick func(r, w, e uint64) uint64) prometheus.CounterFunc {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
			r, w, e := stats()
			return float64(pick(r, w, e))
		})
	}
	m.reg.MustRegister(
		counter("rp_store_reads_total", "Session store round trips that read.", func(r, _, _ uint64) uint64 { return r }),
		counter("rp_store_writes_total", "Session store round trips that wrote.", func(_, w, _ uint64) uint64 { return w }),
		counter("rp_store_errors_total", "Session store calls that failed (down, timed out).", func(_, _, e uint64) uint64 { return e }),
	)
}

// SignIn counts a sign-in's end: result "success" or "failure", with a
// reason from a fixed set for failures.
func (m *Metrics) SignIn(result, reason string) {
	if m != nil {
		m.signIns.WithLabelValues(result, reason).Inc()
	}
}

// Logout counts n sessions ended one way.
func (m *Metrics) Logout(kind string, n int) {
	if m != nil && n > 0 {
		m.logouts.WithLabelValues(kind).Add(float64(n))
	}
}

// Rejected counts a refused token.
func (m *Metrics) Rejected(token, reason string) {
	if m != nil {
		m.rejected.WithLabelValues(token, reason).Inc()
	}
}

// Refresh counts a token refresh's result.
func (m *Metrics) Refresh(result string) {
	if m != nil {
		m.refreshes.WithLabelValues(result).Inc()
	}
}

// Proxied counts a request answered in the app's place or by the app.
func (m *Metrics) Proxied(status int, d time.Duration) {
	if m == nil {
		return
	}
	i := status/100 - 1
	if i < 0 || i >= len(classes) {
		i = len(classes)
	}
	m.proxiedByClass[i].Inc()
	m.proxiedDuration.Observe(d.Seconds())
}

// classes are the label values of status classes, without allocating.
var classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(status int) string {
	if c := status / 100; c >= 1 && c <= 5 {
		return classes[c-1]
	}
	return "other"
}

// Transport counts and times every request to the provider through base,
// naming its endpoint with endpoint (a fixed set: discovery, token,
// userinfo, jwks, revocation, other).
func (m *Metrics) Transport(base http.RoundTripper, endpoint func(*http.Request) string) http.RoundTripper {
	if m == nil {
		return base
	}
	return roundTripper{base: base, m: m, endpoint: endpoint}
}

type roundTripper struct {
	base     http.RoundTripper
	m        *Metrics
	endpoint func(*http.Request) string
}

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	name := t.endpoint(req)
	t.m.providerDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	result := "error"
	if err == nil {
		result = statusClass(resp.StatusCode)
	}
	t.m.providerRequests.WithLabelValues(name, result).Inc()
	return resp, err
}
