package proxy

import (
	"net"
	"net/http"
	"time"
)

// newTransport returns the transport to the upstream when Options.Transport
// is nil.
//
// Go's http.DefaultTransport is tuned for a client, not a proxy: it keeps
// only 2 idle connections per host (MaxIdleConnsPerHost's default), so
// under load every response beyond the second closes its connection and
// the next request dials again, leaving thousands of sockets in TIME_WAIT
// and paying a connect on most requests. All of rp's upstream traffic goes
// to one host, so that is the one limit that matters: it keeps up to 512
// idle connections to the app, with no overall cap (MaxIdleConns 0) and no
// cap on open connections (the app's own limits apply).
//
// Besides: environment proxies are never used (HTTP_PROXY must not send
// the user's identity elsewhere); responses are passed through compressed
// as the app sent them; HTTP/1.1 only, as to most apps behind a proxy, so
// WebSocket upgrades work; and ResponseHeaderTimeout bounds how long the
// app may take to start its answer (then 504), without bounding how long
// it streams.
func newTransport(responseHeaderTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   512,
		MaxConnsPerHost:       0,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}
