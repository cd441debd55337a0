package oidc

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxResponseBytes bounds every body rp reads from the provider: discovery,
// keys, tokens and UserInfo are a few kilobytes; a provider sending more is
// broken or hostile.
const maxResponseBytes = 1 << 20

// errResponseTooLarge is what reading past maxResponseBytes returns.
var errResponseTooLarge = errors.New("oidc: provider response larger than 1 MiB")

// limitTransport caps the size of response bodies.
type limitTransport struct{ base http.RoundTripper }

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > maxResponseBytes {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s declares %d bytes", errResponseTooLarge, req.URL.Redacted(), resp.ContentLength)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: maxResponseBytes}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte would tell a body of exactly the limit from a
		// longer one; refusing at the limit is simpler and as safe.
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
