// Package web is rp's HTTP side: routes, handlers, middleware and pages.
package web

import (
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/rp-project/rp/internal/oidc"
	"github.com/rp-project/rp/internal/session"
)

// Deps are what the server needs; all are required but Now.
type Deps struct {
	BaseURL     string // rp's public URL, no trailing slash
	IdleTimeout time.Duration
	OIDC        *oidc.Client
	Sessions    *session.Manager
	Logger      *slog.Logger
	Now         func() time.Time
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

	// csp is the Content-Security-Policy once the provider's metadata,
	// which never changes after it loads, has named its end-session origin.
	csp atomic.Pointer[string]
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
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Server{
		baseURL:     d.BaseURL,
		origin:      u.Scheme + "://" + u.Host,
		https:       u.Scheme == "https",
		idleTimeout: d.IdleTimeout,
		oidc:        d.OIDC,
		sessions:    d.Sessions,
		log:         d.Logger,
		now:         d.Now,
		pages:       p,
	}, nil
}
