// Package oidc is rp's side of the OpenID Connect protocol: lazy, retrying
// discovery; authorization requests with state, nonce and PKCE; the code
// exchange with every ID token check; and the end-session URL. It knows no
// pages and no storage.
package oidc

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Settings configure a Client. Zero durations take the defaults named.
type Settings struct {
	Issuer       string   // expected "iss", exactly
	DiscoveryURL string   // where discovery is fetched; defaults to Issuer
	ClientID     string   // client_id
	ClientSecret string   // client secret
	RedirectURL  string   // redirect_uri
	Scopes       []string // requested scopes, including openid
	SigningAlg   string   // the one alg accepted for signed tokens; default RS256
	AuthInParams bool     // client_secret_post instead of client_secret_basic
	// OfflineAccess asks for offline_access (refresh tokens) when the
	// provider offers it.
	OfflineAccess bool

	Timeout   time.Duration // bound on each provider request; default 10s
	ClockSkew time.Duration // leeway for exp and iat; default 1m

	// JWKSRefreshEvery and JWKSRefreshBurst bound how often the key set
	// may be fetched again for a token no cached key verifies: for ID
	// tokens and for logout tokens, each apart, JWKSRefreshBurst fetches
	// at once, then one per JWKSRefreshEvery; and the same kid at most
	// once per JWKSRefreshEvery. Defaults 10s and 3.
	JWKSRefreshEvery time.Duration
	JWKSRefreshBurst int

	Transport http.RoundTripper // base transport; default http.DefaultTransport
	Now       func() time.Time  // clock; default time.Now
	Logger    *slog.Logger
}

// Client talks to one provider. It is safe for concurrent use. Until
// discovery succeeds, every method that needs the provider returns an error
// wrapping ErrNotReady.
type Client struct {
	s    Settings
	http *http.Client // every request to the provider but the JWKS
	log  *slog.Logger

	mu      sync.RWMutex
	meta    *metadata
	lastErr error
}

// New returns a Client; it does not contact the provider. Call Run (or
// Discover) to load the metadata.
func New(s Settings) *Client {
	if s.DiscoveryURL == "" {
		s.DiscoveryURL = s.Issuer
	}
	if s.SigningAlg == "" {
		s.SigningAlg = gooidc.RS256
	}
	if s.Timeout <= 0 {
		s.Timeout = 10 * time.Second
	}
	if s.ClockSkew == 0 {
		s.ClockSkew = time.Minute
	}
	if s.JWKSRefreshEvery <= 0 {
		s.JWKSRefreshEvery = 10 * time.Second
	}
	if s.JWKSRefreshBurst <= 0 {
		s.JWKSRefreshBurst = 3
	}
	if s.Transport == nil {
		s.Transport = http.DefaultTransport
	}
	s.Transport = limitTransport{base: s.Transport}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		s:    s,
		http: &http.Client{Transport: s.Transport, Timeout: s.Timeout, CheckRedirect: noRedirects},
		log:  s.Logger,
	}
}

// noRedirects keeps rp from following a provider's redirects on back-channel
// requests: endpoints are taken from discovery exactly.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Ready returns nil once the provider's metadata is loaded, and otherwise
// an error wrapping ErrNotReady and the last discovery failure.
func (c *Client) Ready() error {
	_, err := c.metadata()
	return err
}

func (c *Client) metadata() (*metadata, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.meta == nil {
		if c.lastErr != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotReady, c.lastErr)
		}
		return nil, ErrNotReady
	}
	return c.meta, nil
}

// Run loads the provider's metadata, retrying with capped exponential
// backoff until it succeeds or ctx ends. Run it in its own goroutine: rp
// serves (and reports not ready) while the provider is down.
func (c *Client) Run(ctx context.Context) {
	const maxBackoff = 30 * time.Second
	backoff := 500 * time.Millisecond
	for {
		err := c.Discover(ctx)
		if err == nil {
			return
		}
		c.log.Warn("provider discovery failed; will retry", "discovery_url", c.s.DiscoveryURL, "retry_in", backoff.String(), "err", err)
		jitter := time.Duration(rand.Int64N(int64(backoff) / 4))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + jitter):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// Discover makes one attempt at loading the provider's metadata.
func (c *Client) Discover(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.s.Timeout)
	defer cancel()
	m, err := c.discover(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.lastErr = err
		return err
	}
	c.meta, c.lastErr = m, nil
	c.log.Info("provider metadata loaded", "issuer", c.s.Issuer, "end_session", m.endSession != "", "iss_parameter", m.issParam,
		"offline_access", m.offline, "revocation", m.doc.RevocationEndpoint != "")
	return nil
}

// exchangeContext returns ctx carrying rp's bounded HTTP client for
// x/oauth2 and go-oidc.
func (c *Client) exchangeContext(ctx context.Context) context.Context {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.http)
	return gooidc.ClientContext(ctx, c.http)
}

// Issuer is the configured issuer, exactly as tokens carry it.
func (c *Client) Issuer() string { return c.s.Issuer }
