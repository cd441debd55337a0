// Package devop is a development OpenID provider for rp, built on the
// maintained OP library github.com/zitadel/oidc/v3/pkg/op (the login page,
// the storage and the client are this package's own). cmd/rp-dev runs it
// next to rp so that the whole round trip (sign in, profile, log out at rp
// and at the provider) works on one machine without Docker; the tests use it
// the same way. The production command cmd/rp never imports it (a test
// checks).
//
// What it offers:
//   - one confidential client (client_secret_basic), authorization code flow
//     only, with PKCE S256 required;
//   - RS256 ID tokens (a fresh 2048-bit key each start) carrying "sid", the
//     provider's browser session; profile and email claims come from
//     UserInfo, as OpenID Connect Core 5.4 says for the code flow;
//   - a sign-in form and a provider session cookie (devop_session): a second
//     sign-in skips the form until the session ends (prompt=login and
//     max_age are honoured, prompt=none answers login_required);
//   - an end_session_endpoint (RP-Initiated Logout 1.0) that checks
//     id_token_hint, accepts only the registered post_logout_redirect_uris,
//     ends the provider session and redirects back with state;
//   - plain http, listening on a loopback address only.
//
// Demo users (DemoUsers returns them):
//
//	username  password  name
//	alice     alice     Alice Example   alice@example.com
//	bob       bob       Bob Example     bob@example.com
//
// Everything is kept in memory and lost when the provider stops. It has no
// refresh tokens, no consent screen, no logout confirmation, no back- or
// front-channel logout and no rate limiting: never expose it beyond
// loopback.
package devop

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// User is a demo user. Subject is the stable "sub"; Username and Password
// are what the sign-in form takes.
type User struct {
	Subject       string
	Username      string
	Password      string
	Name          string
	GivenName     string
	FamilyName    string
	Email         string
	EmailVerified bool
}

// DemoUsers returns the users a provider signs in when Options.Users is
// empty.
func DemoUsers() []User {
	return []User{
		{Subject: "0b8f3a52-6c1e-4d2a-9f7e-a11ce0000001", Username: "alice", Password: "alice",
			Name: "Alice Example", GivenName: "Alice", FamilyName: "Example", Email: "alice@example.com", EmailVerified: true},
		{Subject: "7d4e9c10-2b8a-4f63-8e15-b0b000000002", Username: "bob", Password: "bob",
			Name: "Bob Example", GivenName: "Bob", FamilyName: "Example", Email: "bob@example.com", EmailVerified: true},
	}
}

// Options configure a Provider.
type Options struct {
	// Addr is where it listens, e.g. 127.0.0.1:9096; it must be a loopback
	// address ("localhost" means 127.0.0.1). Port 0 picks a free port.
	Addr string
	// Issuer is the provider's public URL, e.g. http://localhost:9096,
	// without a path. Empty means http://<the address listened on>. A port
	// of 0 is replaced by the port listened on.
	Issuer string

	ClientID, ClientSecret string
	// RedirectURIs and PostLogoutRedirectURIs are the client's registered
	// URIs, compared exactly.
	RedirectURIs, PostLogoutRedirectURIs []string

	Users  []User       // default DemoUsers()
	Logger *slog.Logger // default: discard
}

// Provider is a running development provider.
type Provider struct {
	Issuer string // the issuer, exactly as in its tokens
	Addr   string // the address it listens on

	srv       *http.Server
	stopWatch func() bool
	closeOnce sync.Once
	closeErr  error
	served    chan struct{}
}

// Start listens on o.Addr and serves the provider in the background until
// ctx ends or Close is called.
func Start(ctx context.Context, o Options) (*Provider, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.Users) == 0 {
		o.Users = DemoUsers()
	}
	var errs []error
	if o.ClientID == "" || o.ClientSecret == "" {
		errs = append(errs, errors.New("devop: ClientID and ClientSecret are required"))
	}
	if len(o.RedirectURIs) == 0 {
		errs = append(errs, errors.New("devop: at least one redirect URI is required"))
	}
	addr, err := loopbackAddr(o.Addr)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("devop: listening on %s: %w", addr, err)
	}
	p, err := newProvider(o, ln)
	if err != nil {
		ln.Close()
		return nil, err
	}
	go func() {
		defer close(p.served)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("devop: serving failed", "err", err)
		}
	}()
	p.stopWatch = context.AfterFunc(ctx, func() { p.Close() })
	o.Logger.Info("devop: development provider listening", "addr", p.Addr, "issuer", p.Issuer)
	return p, nil
}

func newProvider(o Options, ln net.Listener) (*Provider, error) {
	listened := ln.Addr().(*net.TCPAddr)
	issuer, err := issuerURL(o.Issuer, listened)
	if err != nil {
		return nil, err
	}
	st, err := newStorage(&client{
		id:                     o.ClientID,
		secret:                 o.ClientSecret,
		redirectURIs:           slices.Clone(o.RedirectURIs),
		postLogoutRedirectURIs: slices.Clone(o.PostLogoutRedirectURIs),
	}, slices.Clone(o.Users), o.Logger)
	if err != nil {
		return nil, err
	}

	// CryptoKey encrypts codes and access tokens (opaque to rp): random per
	// start, like the signing key.
	var key [32]byte
	rand.Read(key[:])
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:                key,
		CryptoKeyId:              "devop",
		DefaultLogoutRedirectURI: loggedOutPath,
		CodeMethodS256:           true,
		SupportedUILocales:       []language.Tag{language.English},
	}, st, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		return nil, fmt.Errorf("devop: %w", err)
	}
	u, _ := url.Parse(issuer)
	ui := &ui{st: st, provider: provider, issuer: issuer, origin: u.Scheme + "://" + u.Host, secure: u.Scheme == "https"}

	return &Provider{
		Issuer: issuer,
		Addr:   listened.String(),
		srv: &http.Server{
			Handler:           ui.routes(),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		},
		served: make(chan struct{}),
	}, nil
}

// Close stops the provider, letting requests in flight finish for a few
// seconds.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() {
		if p.stopWatch != nil {
			p.stopWatch()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.closeErr = p.srv.Shutdown(ctx)
		<-p.served
	})
	return p.closeErr
}

// loopbackAddr checks that addr is host:port on a loopback address.
func loopbackAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("devop: Addr %q is not host:port: %w", addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("devop: Addr %q must be a loopback address such as 127.0.0.1:9096: the development provider is never exposed", addr)
	}
	return net.JoinHostPort(host, port), nil
}

// issuerURL validates the configured issuer and fills in the port listened
// on.
func issuerURL(raw string, listened *net.TCPAddr) (string, error) {
	if raw == "" {
		return "http://" + listened.String(), nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("devop: Issuer %q must be an http(s) URL", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("devop: Issuer %q must be an origin: no path, query, fragment or credentials", raw)
	}
	if u.Port() == "0" {
		u.Host = net.JoinHostPort(u.Hostname(), fmt.Sprint(listened.Port))
	}
	return u.Scheme + "://" + u.Host, nil
}
