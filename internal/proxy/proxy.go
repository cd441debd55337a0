// Package proxy is rp's side of protecting an app: the reverse proxy to the
// upstream (identity headers in, spoofed ones and rp's cookie out), the
// pieces of forward-auth (the forwarded request, browser navigations), the
// access rules, and the set of trusted proxies. It knows no pages and no
// sessions: the caller decides who is signed in and renders errors.
package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// Options configure an Upstream.
type Options struct {
	// URL is the app (RP_UPSTREAM); required. It may have a path, joined
	// with the request's as httputil.ProxyRequest.SetURL does. The request
	// to the app carries the app's own host; X-Forwarded-Host the original.
	URL *url.URL
	// Timeout is the default transport's ResponseHeaderTimeout: the
	// upstream must start answering within it, else 504. Zero: no limit.
	// It does not apply to a Transport given here.
	Timeout time.Duration
	// Proto is the scheme of rp's public URL, "http" or "https", sent as
	// X-Forwarded-Proto. Empty: taken from the incoming connection.
	Proto string
	// Host is rp's public host (RP_BASE_URL's), sent as X-Forwarded-Host
	// unless a trusted proxy says otherwise: never the client's Host,
	// which an app may build links (password-reset mails) from. Empty:
	// the request's Host.
	Host string
	// Trusted are the peers whose incoming X-Forwarded-For (appended to),
	// -Host and -Proto are kept, and the other forwarding headers (see
	// forwardingHeaders). From others they are replaced or removed.
	Trusted Trusted
	// PassClientHeaders are the names of clientIdentityHeaders that pass
	// from the client as it sent them (RP_PASS_CLIENT_HEADERS); check them
	// with CheckPassClientHeaders. rp's own identity headers are removed
	// whatever this says.
	PassClientHeaders []string
	// PassAccessToken removes the client's Authorization on every request,
	// also when a request has no access token to send in its place.
	PassAccessToken bool
	// CookieName is rp's session cookie. It, and every cookie named after
	// it and "_" (sign-ins in flight, the logout notice), is removed from
	// requests, and Set-Cookie of such a name removed from responses.
	CookieName string
	// Error writes rp's error page; status is 502 (upstream down, refused,
	// reset, bad response) or 504 (timeout). r is the request as Serve got
	// it. It is never called when the client went away. Nil: a plain-text
	// page with the status text.
	Error func(w http.ResponseWriter, r *http.Request, status int, err error)
	// Transport carries requests to the upstream. Nil: a transport tuned
	// for a proxy under load (see newTransport).
	Transport http.RoundTripper
	// Logger receives upstream failures at WARN. Nil: discard.
	Logger *slog.Logger
}

// Upstream proxies requests to the app. It is safe for concurrent use.
type Upstream struct {
	target    *url.URL
	host      string
	passToken bool
	passNames []string
	proto     string
	trusted   Trusted
	cookie    string
	onError   func(w http.ResponseWriter, r *http.Request, status int, err error)
	transport http.RoundTripper
	log       *slog.Logger
	rp        *httputil.ReverseProxy
}

// New returns an Upstream for o. It panics when o.URL is nil, a programming
// error (config validates RP_UPSTREAM).
func New(o Options) *Upstream {
	if o.URL == nil {
		panic("proxy: New: Options.URL is nil")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Transport == nil {
		o.Transport = newTransport(o.Timeout)
	}
	u := &Upstream{
		target:    o.URL,
		host:      o.Host,
		passToken: o.PassAccessToken,
		passNames: o.PassClientHeaders,
		proto:     o.Proto,
		trusted:   o.Trusted,
		cookie:    o.CookieName,
		onError:   o.Error,
		transport: o.Transport,
		log:       o.Logger,
	}
	u.rp = &httputil.ReverseProxy{
		Rewrite:        u.rewrite,
		Transport:      o.Transport,
		ModifyResponse: u.modifyResponse,
		ErrorHandler:   u.handleError,
		// What the ReverseProxy logs itself (a failed copy of a body,
		// a broken upgrade) goes to slog too.
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		// Without a pool ReverseProxy allocates a 32 KiB copy buffer for
		// every response: the largest allocation on a proxied request.
		BufferPool: newBufferPool(),
	}
	return u
}

// Transport returns the transport to the upstream.
func (u *Upstream) Transport() http.RoundTripper { return u.transport }

// Serve proxies r to the upstream with id's identity headers, after
// removing every client-sent spelling of them (and of Authorization when
// id carries an access token), of other products' identity headers (but
// those in PassClientHeaders), of headers naming another URL, and rp's
// cookie. It clears the server's read
// and write deadlines for this request first, so that uploads, event
// streams, long downloads and WebSockets are not cut by the http.Server's
// ReadTimeout and WriteTimeout, which stay for rp's own pages; the
// upstream's ResponseHeaderTimeout and the client's going away still end a
// request.
func (u *Upstream) Serve(w http.ResponseWriter, r *http.Request, id Identity) {
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		u.log.Debug("proxy: clearing the read deadline failed", "err", err)
	}
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		u.log.Debug("proxy: clearing the write deadline failed", "err", err)
	}
	u.rp.ServeHTTP(w, r.WithContext(&inbound{Context: r.Context(), req: r, id: id}))
}

// inbound carries one request's identity from Serve to rewrite, and the
// request as Serve got it to handleError (which the ReverseProxy hands the
// outbound request). It is the request's context itself, one allocation,
// rather than a context.WithValue holding a pointer to it, two. With the
// copy r.WithContext makes, Serve allocates twice per request on top of
// the ReverseProxy, as many times as a ReverseProxy built per request with
// closures for Rewrite and ErrorHandler would (BenchmarkProxy), while one
// ReverseProxy serves every request.
type inbound struct {
	context.Context
	req *http.Request
	id  Identity
}

type inboundKey struct{}

func (c *inbound) Value(key any) any {
	if key == (inboundKey{}) {
		return c
	}
	return c.Context.Value(key)
}

func inboundOf(r *http.Request) *inbound {
	c, _ := r.Context().Value(inboundKey{}).(*inbound)
	return c
}

// rewrite builds the outbound request. The ReverseProxy has already removed
// the hop-by-hop headers, including those the client listed in Connection,
// and the canonical Forwarded and X-Forwarded-For/-Host/-Proto; nothing
// set here can be removed afterwards.
func (u *Upstream) rewrite(pr *httputil.ProxyRequest) {
	var id Identity
	if c := inboundOf(pr.In); c != nil {
		id = c.id
	}
	u.rewriteFor(pr, id)
}

func (u *Upstream) rewriteFor(pr *httputil.ProxyRequest, id Identity) {
	in, h := pr.In, pr.Out.Header
	pr.SetURL(u.target)

	// Other spellings an app behind CGI, WSGI or PHP would read as these.
	stripSpellings(h, "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto")
	stripSpellings(h, urlHeaders...)
	trusted := u.trusted.Contains(in.RemoteAddr)
	if !trusted {
		stripSpellings(h, forwardingHeaders...)
	}

	peer, _, err := net.SplitHostPort(in.RemoteAddr)
	if err != nil {
		peer = in.RemoteAddr
	}
	xff := peer
	if prior := in.Header["X-Forwarded-For"]; trusted && len(prior) > 0 {
		xff = strings.Join(prior, ", ")
		if peer != "" {
			xff += ", " + peer
		}
	}
	if xff != "" {
		h.Set("X-Forwarded-For", xff)
	}

	host := in.Host
	if u.host != "" {
		host = u.host
	}
	if v, ok := single(in.Header, "X-Forwarded-Host"); trusted && ok && validHostPort(v) {
		host = v
	}
	if host != "" {
		h.Set("X-Forwarded-Host", host)
	}

	proto := u.proto
	if proto == "" {
		proto = "http"
		if in.TLS != nil {
			proto = "https"
		}
	}
	if v, ok := single(in.Header, "X-Forwarded-Proto"); trusted && ok {
		if v = strings.ToLower(v); v == "http" || v == "https" {
			proto = v
		}
	}
	h.Set("X-Forwarded-Proto", proto)

	StripIdentity(h, id.AccessToken != "" || u.passToken)
	stripClientIdentity(h, u.passNames)
	StripCookie(h, u.cookie)
	SetIdentity(h, id)
	if t := pr.Out.Trailer; len(t) > 0 {
		// Trailers declared by the client: an app that merges them into
		// the headers must not find identity, credentials, cookies or
		// another URL.
		StripIdentity(t, true)
		stripClientIdentity(t, u.passNames)
		stripSpellings(t, "Cookie", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto")
		stripSpellings(t, urlHeaders...)
		stripSpellings(t, forwardingHeaders...)
	}
}

// forwardingHeaders are what proxies tell apps about the original request
// besides X-Forwarded-For, -Host and -Proto; apps that trust their proxy
// build links and redirects from them, or take the client's address. Only
// a trusted proxy's pass. Those naming the URL itself never pass
// (urlHeaders).
var forwardingHeaders = []string{
	"X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Ssl", "X-Forwarded-Scheme",
	"X-Forwarded-Server", "X-Forwarded-Method", "X-Real-Ip", "True-Client-Ip",
	"X-Client-Ip", "X-Original-Host", "Front-End-Https", "X-Script-Name",
}

// modifyResponse keeps the app from setting, overwriting or deleting rp's
// session cookie.
func (u *Upstream) modifyResponse(res *http.Response) error {
	dropSetCookie(res.Header, u.cookie)
	return nil
}

// handleError answers a request the upstream did not answer: 504 for a
// timeout, 502 for anything else; nothing when the client went away. The
// ReverseProxy calls it only before the response has started.
func (u *Upstream) handleError(w http.ResponseWriter, out *http.Request, err error) {
	in := out
	if c := inboundOf(out); c != nil {
		in = c.req
	}
	u.handleErrorFor(w, in, out, err)
}

func (u *Upstream) handleErrorFor(w http.ResponseWriter, in, out *http.Request, err error) {
	if out.Context().Err() != nil {
		u.log.Debug("proxy: client went away before the upstream answered",
			"method", in.Method, "path", in.URL.Path, "err", err)
		return
	}
	status := http.StatusBadGateway
	if isTimeout(err) {
		status = http.StatusGatewayTimeout
	}
	// The path only: a query may hold secrets.
	u.log.Warn("proxy: upstream request failed",
		"status", status, "method", in.Method, "path", in.URL.Path, "upstream", u.target.Host, "err", err)
	if u.onError != nil {
		u.onError(w, in, status, err)
		return
	}
	http.Error(w, http.StatusText(status), status)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}
