package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// IndexEntry ties a stored session to the provider's identifiers, so that a
// logout started at the provider can find it.
type IndexEntry struct {
	Issuer  string
	Subject string
	SID     string
	Expiry  time.Time
}

// Index finds sessions by the provider's sid or sub. Keys are the store's
// keys (the hashed session tokens), never the tokens themselves.
type Index interface {
	Add(ctx context.Context, key string, e IndexEntry) error
	Remove(ctx context.Context, key string) error
	// Find returns the keys of sessions of issuer iss with the given sid,
	// or with the given sub when sid is empty; with both, sessions matching
	// both.
	Find(ctx context.Context, iss, sub, sid string) ([]string, error)
	// Claim records key as used until expiry and reports whether this was
	// its first use, atomically across every instance sharing the store:
	// single-use values (a sign-in's state, later a logout token's jti)
	// cannot be used twice even by concurrent requests.
	Claim(ctx context.Context, key string, expiry time.Time) (first bool, err error)
	// DeleteExpired forgets index entries and claims past their expiry.
	DeleteExpired(ctx context.Context, now time.Time) error
}

// storeKey is the key under which scs keeps a session when
// HashTokenInStore is on: base64url(SHA-256(token)). A test guards that it
// stays equal to scs's own.
func storeKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
