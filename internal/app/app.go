// Package app builds rp's parts from a Config and runs the HTTP server until
// its context ends. cmd/rp and the development command share it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/rp-project/rp/internal/config"
	"github.com/rp-project/rp/internal/metrics"
	"github.com/rp-project/rp/internal/oidc"
	"github.com/rp-project/rp/internal/proxy"
	"github.com/rp-project/rp/internal/sealed"
	"github.com/rp-project/rp/internal/session"
	"github.com/rp-project/rp/internal/web"
)

// Options carry what tests may replace; the zero value is production.
type Options struct {
	Logger    *slog.Logger
	Transport http.RoundTripper // to the provider; default http.DefaultTransport
	Now       func() time.Time  // default time.Now
	// UpstreamTransport carries proxied requests to RP_UPSTREAM; default
	// one tuned for load.
	UpstreamTransport http.RoundTripper
}

// App is a built rp: its handler, and the parts that need closing.
type App struct {
	Config   config.Config
	Handler  http.Handler
	OIDC     *oidc.Client
	Sessions *session.Manager
	Metrics  *metrics.Metrics
	// DrainGrace is how long Serve still accepts new connections after
	// its context ends, with /readyz answering 503, before it closes the
	// listener: load balancers have that long to notice. Zero (tests, the
	// development command): none. Run sets DefaultDrainGrace.
	DrainGrace time.Duration
	web        *web.Server
	cancel     context.CancelFunc
	// writeTimeout outlasts the longest sign-in: the code exchange may
	// take three provider calls, and its error page must still be sent.
	writeTimeout time.Duration
}

// New builds rp from cfg and starts provider discovery in the background:
// rp serves (and answers 503 on /readyz) while the provider is down.
func New(ctx context.Context, cfg config.Config, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cookieSecrets, weak := cfg.SealingSecrets()
	if len(cfg.CookieSecrets) == 0 {
		// A client secret may have been typed: a sealed cookie must not
		// make it cheap to guess offline.
		cookieSecrets = []string{sealed.Stretch(cfg.ClientSecret, cfg.SealingContext())}
	}
	if weak {
		o.Logger.Warn("RP_COOKIE_SECRET is not set and the client secret is short or does not look random: " +
			"the cookies of sign-ins in flight are sealed with a key derived from it, and anyone can get such a cookie from /login " +
			"and try to guess the client secret offline. Set RP_COOKIE_SECRET to 32 random characters (openssl rand -base64 32), " +
			"the same on every instance")
	}
	sessions, err := session.Open(ctx, session.Options{
		CookieSecrets: cookieSecrets,
		CookieContext: cfg.SealingContext(),
		Store:         cfg.SessionStore,
		StorePassword: cfg.SessionStorePassword,
		StoreTimeout:  cfg.SessionStoreTimeout,
		IdleTimeout:   cfg.SessionIdleTimeout,
		Lifetime:      cfg.SessionLifetime,
		SecureCookie:  cfg.SecureCookies(),
		CookieName:    cfg.SessionCookieName,
		Logger:        o.Logger,
		// The app is sent the access token on every request: keep a copy
		// in the session's data, so that a request reads the store once.
		AccessTokenInSession: cfg.PassAccessToken,
		Now:                  o.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the session store: %w", err)
	}
	m := metrics.New()
	m.StoreStats(func() (reads, writes, errors uint64) {
		st := sessions.Stats()
		return st.Reads, st.Writes, st.Errors
	})
	if sessions.CanCount() {
		m.SessionsActive(sessions.CountActive, sessionsCountEvery)
	}
	base := o.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	var client *oidc.Client
	providerTransport := m.Transport(base, func(r *http.Request) string { return client.EndpointName(r.URL) })
	client = oidc.New(oidc.Settings{
		Issuer:        cfg.Issuer,
		DiscoveryURL:  cfg.DiscoveryURL,
		ClientID:      cfg.ClientID,
		ClientSecret:  cfg.ClientSecret,
		RedirectURL:   cfg.RedirectURL(),
		Scopes:        cfg.Scopes,
		SigningAlg:    cfg.SigningAlg,
		AuthInParams:  cfg.TokenAuthMethod == "client_secret_post",
		OfflineAccess: cfg.OfflineAccess,
		Timeout:       cfg.ProviderTimeout,
		ClockSkew:     cfg.ClockSkew,
		Transport:     providerTransport,
		Now:           o.Now,
		Logger:        o.Logger,
	})
	var upstream *url.URL
	if cfg.Upstream != "" {
		if upstream, err = url.Parse(cfg.Upstream); err != nil {
			sessions.Close()
			return nil, fmt.Errorf("RP_UPSTREAM: %w", err)
		}
	}
	if err := proxy.CheckPassClientHeaders(cfg.PassClientHeaders); err != nil {
		sessions.Close()
		return nil, fmt.Errorf("RP_PASS_CLIENT_HEADERS: %w", err)
	}
	rules := proxy.Rules{Groups: cfg.AllowedGroups, EmailDomains: cfg.AllowedEmailDomains}
	for _, r := range cfg.PathRules {
		rules.Paths = append(rules.Paths, proxy.PathRule{Prefix: r.Prefix, Groups: r.Groups})
	}
	srv, err := web.New(web.Deps{
		BaseURL:           cfg.BaseURL,
		IdleTimeout:       cfg.SessionIdleTimeout,
		OIDC:              client,
		Sessions:          sessions,
		Logger:            o.Logger,
		Now:               o.Now,
		PathPrefix:        cfg.PathPrefix,
		Upstream:          upstream,
		UpstreamTimeout:   cfg.UpstreamTimeout,
		UpstreamTransport: o.UpstreamTransport,
		Rules:             rules,
		Trusted:           proxy.Trusted(cfg.TrustedProxies),
		PassAccessToken:   cfg.PassAccessToken,
		ForwardAuthSecret: cfg.ForwardAuthSecret,
		GroupsClaim:       cfg.GroupsClaim,
		PassClientHeaders: cfg.PassClientHeaders,
		Metrics:           m,
		MetricsHere:       cfg.MetricsAddr == config.MetricsOnMain,
		ProviderTimeout:   cfg.ProviderTimeout,
		Brand:             brand(cfg),
		Frontchannel:      cfg.FrontchannelLogout,
	})
	if err != nil {
		sessions.Close()
		return nil, fmt.Errorf("building the web server: %w", err)
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go client.Run(bg)
	return &App{Config: cfg, Handler: srv.Handler(), OIDC: client, Sessions: sessions, Metrics: m, web: srv, cancel: cancel,
		writeTimeout: 3*cfg.ProviderTimeout + 30*time.Second}, nil
}

// Close stops discovery and closes the session store.
func (a *App) Close() error {
	a.cancel()
	return a.Sessions.Close()
}

// DefaultDrainGrace is how long rp (Run) still accepts new connections
// after SIGTERM, at most half of RP_SHUTDOWN_TIMEOUT: a few of a load
// balancer's health checks, or the time Kubernetes takes to remove a
// terminating pod from its endpoints.
const DefaultDrainGrace = 5 * time.Second

// sessionsCountEvery is how often, at most, /metrics counts the sessions in
// the store: one count query, which reads every index entry (about 25 ms
// for 10^6 sessions on SQLite, up to 2 s on a busy PostgreSQL), so not on
// every scrape.
const sessionsCountEvery = time.Minute

// Serve serves on ln until ctx ends, then shuts down gracefully within
// RP_SHUTDOWN_TIMEOUT of that moment:
//
//  1. /readyz answers 503 ("shutdown":"draining") at once, and keep-alives
//     end: idle connections close and every response says Connection: close;
//  2. for DrainGrace, new connections are still accepted and served;
//  3. the listener closes and the requests in flight finish
//     (http.Server.Shutdown), proxied ones included, whose read and write
//     deadlines the proxy cleared;
//  4. when RP_SHUTDOWN_TIMEOUT runs out first, the connections still open
//     are closed, cutting their requests, with a warning saying how many.
//
// Upgraded connections (WebSockets), which Shutdown does not track, stay
// open until Serve returns and the process exits. Serve returns nil after
// a shutdown, even one that cut requests: rp stopped as it was asked to.
func (a *App) Serve(ctx context.Context, ln net.Listener, logger *slog.Logger) error {
	var inFlight atomic.Int64 // requests being served, upgraded ones included
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inFlight.Add(1)
			defer inFlight.Add(-1)
			a.Handler.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      a.writeTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	start := time.Now()
	timeout := a.Config.ShutdownTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second // a Config not from Load
	}
	grace := min(a.DrainGrace, timeout/2)
	a.web.StartDraining()
	hs.SetKeepAlivesEnabled(false)
	logger.Info("shutting down: /readyz answers 503", "accepting_for", grace, "timeout", timeout, "in_flight", inFlight.Load())
	if grace > 0 {
		select {
		case err := <-errc:
			return fmt.Errorf("serving: %w", err)
		case <-time.After(grace):
		}
	}
	logger.Info("shutting down: no new connections; draining the requests in flight", "in_flight", inFlight.Load())
	sctx, cancel := context.WithDeadline(context.Background(), start.Add(timeout))
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		logger.Warn("shutting down: RP_SHUTDOWN_TIMEOUT ran out; cutting the requests still in flight",
			"timeout", timeout, "cut", inFlight.Load())
		hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if n := inFlight.Load(); n > 0 {
		logger.Info("shutting down: closing upgraded connections (WebSockets) as rp exits", "open", n)
	}
	logger.Info("shutting down: requests drained", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// Run builds rp, listens on cfg.Addr and serves until ctx ends.
func Run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	a, err := New(ctx, cfg, Options{Logger: logger})
	if err != nil {
		return err
	}
	a.DrainGrace = DefaultDrainGrace
	defer func() {
		// Discovery's retries and the store's pruning stop; the store closes.
		if err := a.Close(); err != nil {
			logger.Warn("closing the session store", "err", err)
		}
	}()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	logger.Info("rp listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL, "issuer", cfg.Issuer,
		"path_prefix", cfg.PathPrefix, "upstream", cfg.Upstream != "")
	switch {
	case cfg.MetricsListener() != "":
		mln, err := net.Listen("tcp", cfg.MetricsListener())
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening on RP_METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
		}
		stop := a.ServeMetrics(mln, logger)
		defer stop()
		logger.Info("metrics: GET /metrics on its own listener", "addr", mln.Addr().String())
	case cfg.MetricsAddr == config.MetricsOnMain:
		logger.Info("metrics: GET "+cfg.PathPrefix+"/metrics on the main listener (RP_METRICS_ADDR=main): anyone who reaches rp reads them",
			"addr", ln.Addr().String())
	default:
		logger.Info("metrics: off; RP_METRICS_ADDR=127.0.0.1:9090 serves GET /metrics on a listener of its own (or main: on RP_ADDR, for anyone who reaches rp)")
	}
	return a.Serve(ctx, ln, logger)
}

// ServeMetrics serves GET /metrics alone on ln (RP_METRICS_ADDR as a
// listen address), until the returned stop is called.
func (a *App) ServeMetrics(ln net.Listener, logger *slog.Logger) (stop func()) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.Metrics.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("the metrics listener stopped", "err", err)
		}
	}()
	return func() { hs.Close() }
}

// brand is RP_BRAND_NAME and RP_BRAND_LOGO as the pages use them.
func brand(cfg config.Config) web.Brand {
	b := web.Brand{Name: cfg.BrandName}
	if cfg.Logo != nil {
		b.Logo, b.LogoType = cfg.Logo.Data, cfg.Logo.Type
	}
	return b
}
