package oidc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Errors callers branch on with errors.Is. Every error this package returns
// from a sign-in step wraps exactly one of them.
var (
	// ErrNotReady means the provider's metadata has not been loaded yet.
	ErrNotReady = errors.New("oidc: provider metadata not loaded yet")
	// ErrUnavailable means the provider could not be reached or answered
	// with a server error.
	ErrUnavailable = errors.New("oidc: provider unavailable")
	// ErrTimeout means the provider did not answer within the timeout.
	// Errors wrapping it also wrap ErrUnavailable.
	ErrTimeout = errors.New("oidc: provider timed out")
	// ErrRejected means a response failed a protocol or security check, or
	// the provider refused the request (for example invalid_grant).
	ErrRejected = errors.New("oidc: rejected")
	// ErrOfflineRefused means the provider refused the code of an
	// authorization request that asked for offline_access because rp added
	// it (Settings.OfflineAccess), with not_allowed (Keycloak's answer when
	// the user lacks the offline_access role: "Offline tokens not allowed
	// for the user or client") or invalid_scope. The same sign-in may pass
	// without offline_access (AuthRequest.WithoutOffline). Errors wrapping
	// it also wrap ErrRejected.
	ErrOfflineRefused = errors.New("oidc: the provider refused offline_access")
	// ErrKeysThrottled means a token names a key rp does not hold, and
	// the provider's key set may not be fetched again yet. Errors wrapping
	// it are *KeysError and also wrap ErrUnavailable.
	ErrKeysThrottled = errors.New("oidc: the provider's signing keys may not be fetched again yet")
)

// KeysError means a token could not be verified for want of the
// provider's current keys: fetching them failed, or was not allowed yet
// (then it wraps ErrKeysThrottled). It always wraps ErrUnavailable: the
// token may well be genuine, and the same token can succeed after
// RetryAfter.
type KeysError struct {
	RetryAfter time.Duration // at least a second
	throttled  bool
	err        error
}

func (e *KeysError) Error() string {
	what := "fetching the provider's signing keys failed"
	if e.throttled {
		what = "the provider's signing keys may not be fetched again yet"
	}
	return fmt.Sprintf("oidc: %s (retry in %s): %s", what, e.RetryAfter, brief(e.err))
}

func (e *KeysError) Unwrap() []error {
	errs := []error{ErrUnavailable, e.err}
	if e.throttled {
		errs = append(errs, ErrKeysThrottled)
	}
	return errs
}

func rejected(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRejected, fmt.Sprintf(format, args...))
}

// unavailable classifies a transport-level failure.
func unavailable(what string, err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %w: %s: %w", ErrUnavailable, ErrTimeout, what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}

// brief is err's text cut to a length fit for a log line: go-oidc puts
// whole provider response bodies into its errors.
func brief(err error) string {
	const max = 200
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
