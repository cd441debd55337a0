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
	Expiry  time.Time // when the entry may be forgotten: the session's deadline and a margin
}

// Index finds sessions by the provider's sid or sub, in the same store as
// the sessions, so every instance sharing the store sees the same index.
// Keys are the store's keys (the hashed session tokens), never the tokens
// themselves. Each method costs the same whatever the number of sessions
// stored: lookups go through (iss, sid) and (iss, sub) indexes.
type Index interface {
	// Add records (or replaces) the entry of the session stored under key.
	Add(ctx context.Context, key string, e IndexEntry) error
	// Touch moves an existing entry's expiry forward; it never creates an
	// entry, so it cannot bring back one that a logout removed.
	Touch(ctx context.Context, key string, e IndexEntry) error
	// Remove forgets the entry of key.
	Remove(ctx context.Context, key string) error
	// Has reports whether key has an entry.
	Has(ctx context.Context, key string) (bool, error)
	// Find returns the keys of unexpired entries of issuer iss with the
	// given sid, or with the given sub when sid is empty; with both,
	// entries matching both. With neither it returns none.
	Find(ctx context.Context, iss, sub, sid string) ([]string, error)
	// Delete deletes the sessions stored under keys, their tokens and
	// their entries, in
	// one transaction where the store has them, and returns how many
	// sessions it deleted.
	Delete(ctx context.Context, keys []string) (int, error)
	// Claim records key as used until expiry and reports whether this was
	// its first use, atomically across every instance sharing the store:
	// single-use values (a sign-in's state, a logout token's jti) cannot be
	// used twice even by concurrent requests.
	Claim(ctx context.Context, key string, expiry time.Time) (first bool, err error)
	// Release forgets a claim, so a request that failed after claiming can
	// be retried.
	Release(ctx context.Context, key string) error
	// DeleteExpired forgets entries and claims past their expiry, where the
	// store does not expire them by itself.
	DeleteExpired(ctx context.Context, now time.Time) error
}

// storeKey is the key under which scs keeps a session when
// HashTokenInStore is on: base64url(SHA-256(token)). A test guards that it
// stays equal to scs's own.
func storeKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
