// Package web is rp's HTTP side: routes, handlers, middleware and pages.
package web

import (
	"crypto/sha256"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/rp-project/rp/internal/metrics"
	"github.com/rp-project/rp/internal/oidc"
	"github.com/rp-project/rp/internal/proxy"
	"github.com/rp-project/rp/internal/session"
)

// Deps are what the server needs; all are required but Now and the
// settings of protecting an app.
type Deps struct {
	BaseURL     string // rp's public URL, no trailing slash
	IdleTimeout time.Duration
	OIDC        *oidc.Client
	Sessions    *session.Manager
	Logger      *slog.Logger
	Now         func() time.Time

	// PathPrefix is the prefix of rp's own routes ("" or like /_rp).
	PathPrefix string
	// Upstream is the app rp protects (proxy mode); nil for none.
	Upstream          *url.URL
	UpstreamTimeout   time.Duration
	UpstreamTransport http.RoundTripper // nil: proxy's tuned default
	// Rules say who may pass, in proxy mode and on /auth.
	Rules proxy.Rules
	// Trusted are the proxies whose X-Forwarded-* headers rp believes.
	Trusted         proxy.Trusted
	PassAccessToken bool
	GroupsClaim     string        // default "groups"
	ProviderTimeout time.Duration // bounds a refresh; default 10s

	// ForwardAuthSecret is what the forward-auth proxy sends in
	// X-RP-Forward-Auth-Secret to prove a request to /auth is its own;
	// "" for none: /auth then never answers with the access token.
	ForwardAuthSecret string

	// PassClientHeaders are other products' identity headers that reach
	// the app as the client sent them (RP_PASS_CLIENT_HEADERS), checked
	// with proxy.CheckPassClientHeaders.
	PassClientHeaders []string

	// Metrics records what rp does; nil records nothing. MetricsHere
	// serves GET /metrics among rp's routes (RP_METRICS_ADDR=main), where
	// anyone who reaches rp reads it; otherwise the path is not rp's.
	Metrics     *metrics.Metrics
	MetricsHere bool

	// Brand names the organisation on every page; the zero value shows rp.
	Brand Brand

	// Frontchannel serves GET /frontchannel-logout; off, the route answers
	// rp's not-found page.
	Frontchannel bool
}

// Server holds rp's handlers and what they share.
type Server struct {
	baseURL     string
	origin      string // scheme://host[:port] of baseURL
	https       bool   // baseURL is https: send HSTS
	idleTimeout time.Duration
	oidc        *oidc.Client
	sessions    *session.Manager
	log         *slog.Logger
	now         func() time.Time
	pages       pages
	brand       Brand
	logoETag    string // of brand.Logo

	prefix      string          // of rp's routes
	home        string          // where "Home" leads: rp's home page, or the app's
	ownPaths    map[string]bool // rp's routes in proxy mode without a prefix
	upstream    *proxy.Upstream // nil: rp protects no app by proxying
	rules       proxy.Rules
	trusted     proxy.Trusted
	passToken   bool
	fwdSecret   *[sha256.Size]byte // of Deps.ForwardAuthSecret; nil: none
	frontLogout bool               // GET /frontchannel-logout is served
	groupsClaim string
	refreshHold time.Duration
	users       users
	metrics     *metrics.Metrics
	metricsHere bool // GET /metrics on this listener

	// refreshPausedUntil (unix nanoseconds) pauses refreshes on this
	// instance after the provider failed to answer one, so that a
	// provider outage does not make every request wait for it.
	refreshPausedUntil atomic.Int64

	// csp is the Content-Security-Policy once the provider's metadata,
	// which never changes after it loads, has named its end-session origin.
	csp atomic.Pointer[string]

	// draining is set once rp shuts down (StartDraining).
	draining atomic.Bool
}

// New parses the templates and returns a Server.
func New(d Deps) (*Server, error) {
	u, err := url.Parse(d.BaseURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("web: base URL %q is not absolute", d.BaseURL)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.GroupsClaim == "" {
		d.GroupsClaim = "groups"
	}
	if d.ProviderTimeout <= 0 {
		d.ProviderTimeout = 10 * time.Second
	}
	s := &Server{
		baseURL:     d.BaseURL,
		origin:      u.Scheme + "://" + u.Host,
		https:       u.Scheme == "https",
		idleTimeout: d.IdleTimeout,
		oidc:        d.OIDC,
		sessions:    d.Sessions,
		log:         d.Logger,
		now:         d.Now,
		prefix:      d.PathPrefix,
		home:        d.PathPrefix + "/",
		rules:       d.Rules,
		trusted:     d.Trusted,
		passToken:   d.PassAccessToken,
		groupsClaim: d.GroupsClaim,
		refreshHold: d.ProviderTimeout + 5*time.Second,
		metrics:     d.Metrics,
		metricsHere: d.Metrics != nil && d.MetricsHere,
		brand:       d.Brand,
		frontLogout: d.Frontchannel,
	}
	if d.ForwardAuthSecret != "" {
		sum := sha256.Sum256([]byte(d.ForwardAuthSecret))
		s.fwdSecret = &sum
	}
	if s.brand.Name == "" {
		s.brand.Name = "rp"
	}
	if len(s.brand.Logo) > 0 {
		if s.brand.LogoType == "" {
			return nil, fmt.Errorf("web: the brand's logo has no content type")
		}
		s.logoETag = logoETag(s.brand.Logo)
	}
	if d.Upstream != nil {
		s.home = "/"
		s.upstream = proxy.New(proxy.Options{
			URL:             d.Upstream,
			Timeout:         d.UpstreamTimeout,
			Proto:           u.Scheme,
			Host:            u.Host,
			Trusted:         d.Trusted,
			PassAccessToken: d.PassAccessToken,
			CookieName:      d.Sessions.CookieName(),
			Error:           s.upstreamError,
			Transport:       d.UpstreamTransport,
			Logger:          d.Logger,

			PassClientHeaders: d.PassClientHeaders,
		})
	}
	p, err := parsePages(template.FuncMap{
		"route": func(p string) string { return s.prefix + p },
		"home":  func() string { return s.home },
		"brand": func() string { return s.brand.Name },
		"logo": func() string {
			if len(s.brand.Logo) == 0 {
				return ""
			}
			return s.prefix + logoRoute
		},
	})
	if err != nil {
		return nil, err
	}
	s.pages = p
	s.logFrontchannelSetting()
	s.logForwardAuthSetting()
	return s, nil
}

// route is path under rp's prefix, as a browser's path.
func (s *Server) route(path string) string { return s.prefix + path }

// routeURL is path under rp's prefix, as an absolute URL.
func (s *Server) routeURL(path string) string { return s.baseURL + s.prefix + path }
