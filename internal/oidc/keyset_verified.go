package oidc

import (
	"context"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
)

// verifiedKeySet is the verifier's key set. A token whose signature rp has
// just verified with the same keys is not verified a second time when
// go-oidc's VerifyLogout checks its claims: the context carries the token
// and its verified payload. Any other token is verified by rp's key set.
type verifiedKeySet struct{ keys gooidc.KeySet }

type verifiedKey struct{}

type verified struct {
	raw     string
	payload []byte
}

func withVerified(ctx context.Context, raw string, payload []byte) context.Context {
	return context.WithValue(ctx, verifiedKey{}, verified{raw: raw, payload: payload})
}

// VerifySignature returns the payload of a token verified just before, or
// verifies it.
func (k verifiedKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	if v, ok := ctx.Value(verifiedKey{}).(verified); ok && v.raw == jwt {
		return v.payload, nil
	}
	return k.keys.VerifySignature(ctx, jwt)
}
