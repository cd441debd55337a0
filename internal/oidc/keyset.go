package oidc

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// errKeyRefreshThrottled is returned to go-oidc's remote key set when a
// refresh of the JWKS is asked for too soon after the previous ones.
var errKeyRefreshThrottled = errors.New("oidc: JWKS refresh throttled")

// jwksTransport guards the provider's jwks_uri. go-oidc refetches the key
// set whenever a token names a kid it has not cached; without a bound, a
// flood of tokens with made-up kids would become a flood of JWKS requests.
// It also remembers when a fetch last failed, so a failed verification can
// be told apart from a provider outage (go-oidc does not wrap that error).
type jwksTransport struct {
	base    http.RoundTripper
	limiter *rate.Limiter

	mu         sync.Mutex
	lastFailed time.Time
}

func newJWKSTransport(base http.RoundTripper, every time.Duration, burst int) *jwksTransport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &jwksTransport{base: base, limiter: rate.NewLimiter(rate.Every(every), burst)}
}

func (t *jwksTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.limiter.Allow() {
		return nil, errKeyRefreshThrottled
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode >= 500 {
		t.mu.Lock()
		t.lastFailed = time.Now()
		t.mu.Unlock()
	}
	return resp, err
}

// failedSince reports whether a JWKS fetch failed at or after start.
func (t *jwksTransport) failedSince(start time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.lastFailed.Before(start)
}
