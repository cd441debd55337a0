package oidc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/time/rate"
)

// keyUse names the allowance a refresh of the key set is charged to.
// Anyone can post a logout token, while ID tokens come from rp's own
// requests to the token endpoint: forged logout tokens must not use up
// the refreshes sign-in needs.
type keyUse int

const (
	forLogoutTokens keyUse = iota // also any verification that names no use
	forIDTokens
	keyUses
)

func (u keyUse) String() string {
	if u == forIDTokens {
		return "id_token"
	}
	return "logout_token"
}

// keyCall travels in the context of one verification: the allowance a
// refresh is charged to, and the key set's own error (a *KeysError), which
// go-oidc's verifier turns into text.
type keyCall struct {
	use keyUse
	err error
}

type keyCallKey struct{}

func withKeyCall(ctx context.Context, call *keyCall) context.Context {
	return context.WithValue(ctx, keyCallKey{}, call)
}

// keySet holds the provider's signing keys and decides when a token that
// no cached key verifies may fetch them again from jwks_uri. A fetch
// brings the whole set, so one fetch answers every kid at once:
//   - concurrent misses share one fetch, and a token is refused once a
//     fetch started after it arrived has not produced a key for it;
//   - a kid is not fetched for again within window of the fetch that
//     showed it absent (the kids remembered are bounded, per use), nor a
//     kid whose key is cached and was fetched within window (the token's
//     signature is wrong, or the provider reused the kid for a new key);
//   - each use has its own allowance: burst fetches at once, then one per
//     window.
//
// So a genuinely new kid causes one fetch at once unless its use's
// allowance is spent; a refused refresh is a *KeysError (retryable), not a
// rejection. go-oidc's IDTokenVerifier verifies the claims with this set.
type keySet struct {
	url    string
	alg    jose.SignatureAlgorithm
	client *http.Client
	now    func() time.Time
	window time.Duration
	log    *slog.Logger

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time // when the fetch that produced keys started
	fetched   uint64    // its sequence number; 0 before the first
	started   uint64    // fetches started so far
	inflight  *keyFetch
	allowed   [keyUses]*rate.Limiter
	absent    [keyUses]*kidMemory
}

type keyFetch struct {
	seq  uint64
	at   time.Time
	done chan struct{}
	err  error // set before done is closed
}

// maxJWKSBytes bounds the key set read from jwks_uri, as every provider
// response is bounded.
const maxJWKSBytes = 1 << 20

// kidsRemembered bounds how many absent kids each use remembers.
const kidsRemembered = 1024

func newKeySet(url string, alg string, client *http.Client, now func() time.Time, window time.Duration, burst int, log *slog.Logger) *keySet {
	k := &keySet{url: url, alg: jose.SignatureAlgorithm(alg), client: client, now: now, window: window, log: log}
	for u := range keyUses {
		k.allowed[u] = rate.NewLimiter(rate.Every(window), burst)
		k.absent[u] = newKidMemory(kidsRemembered)
	}
	return k
}

// VerifySignature returns the payload of jwt when a key of the provider
// verifies its signature, fetching the keys again when the rules above
// allow. The context's keyCall names the use; without one, the fetch is
// charged to logout tokens.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	call, ok := ctx.Value(keyCallKey{}).(*keyCall)
	if !ok {
		call = &keyCall{use: forLogoutTokens}
	}
	jws, err := jose.ParseSignedCompact(jwt, []jose.SignatureAlgorithm{k.alg})
	if err != nil {
		return nil, fmt.Errorf("oidc: malformed JWS: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("oidc: not a JWS with exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID

	k.mu.Lock()
	arrived := k.started // fetches started before this token arrived
	k.mu.Unlock()
	for {
		payload, ok, tried := k.verifyCached(jws, kid)
		if ok {
			return payload, nil
		}
		f, err := k.refresh(call.use, kid, arrived, tried)
		if errors.Is(err, errKeysChanged) {
			continue
		}
		if err != nil {
			var ke *KeysError
			if errors.As(err, &ke) {
				call.err = err
			}
			return nil, err
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			call.err = &KeysError{RetryAfter: time.Second, err: ctx.Err()}
			return nil, call.err
		}
		if f.err != nil && f.seq > arrived {
			call.err = &KeysError{RetryAfter: k.untilAllowed(call.use, k.now()), err: f.err}
			return nil, call.err
		}
		// A fetch older than the token ended: look again, and maybe
		// fetch anew. Each round starts a fetch or ends.
	}
}

// verifyCached verifies with the cached keys that kid names (all of them
// when the token names none), as go-oidc's remote key set does. tried is
// the fetch those keys came from.
func (k *keySet) verifyCached(jws *jose.JSONWebSignature, kid string) (payload []byte, ok bool, tried uint64) {
	k.mu.Lock()
	keys, tried := k.keys, k.fetched
	k.mu.Unlock()
	for i := range keys {
		if kid == "" || keys[i].KeyID == kid {
			if payload, err := jws.Verify(&keys[i]); err == nil {
				return payload, true, tried
			}
		}
	}
	return nil, false, tried
}

// errKeysChanged tells VerifySignature that keys newer than the ones it
// tried have arrived in between: it verifies again before deciding.
var errKeysChanged = errors.New("oidc: the keys changed while a token was verified")

// refresh decides, for a token that no cached key verifies, between
// refusing it, waiting for a fetch in flight, and starting one. arrived
// is how many fetches had started when the token arrived, and tried the
// fetch whose keys failed to verify it: when newer keys have arrived
// since, it answers errKeysChanged, never a refusal.
func (k *keySet) refresh(use keyUse, kid string, arrived, tried uint64) (*keyFetch, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fetched != tried {
		return nil, errKeysChanged
	}
	cached := k.holds(kid)
	if k.fetched > arrived {
		// Keys fetched after the token arrived do not verify it.
		if !cached {
			k.absent[use].remember(kid, k.fetchedAt)
			return nil, fmt.Errorf("oidc: the provider's keys have no kid %s", quoteKid(kid))
		}
		return nil, errors.New("oidc: the signature does not verify with the provider's key")
	}
	if k.inflight != nil {
		return k.inflight, nil
	}
	now := k.now()
	last, seen := k.fetchedAt, cached
	if !cached {
		last, seen = k.absent[use].lookup(kid)
	}
	if seen && now.Sub(last) < k.window {
		if cached {
			return nil, errors.New("oidc: the signature does not verify with the provider's key, fetched just now")
		}
		return nil, &KeysError{RetryAfter: atLeastASecond(last.Add(k.window).Sub(now)), throttled: true,
			err: fmt.Errorf("kid %s was not among the provider's keys %s ago", quoteKid(kid), now.Sub(last).Round(time.Second))}
	}
	if !k.allowed[use].AllowN(now, 1) {
		return nil, &KeysError{RetryAfter: k.untilAllowed(use, now), throttled: true,
			err: fmt.Errorf("the %s allowance of key refreshes is spent", use)}
	}
	k.started++
	f := &keyFetch{seq: k.started, at: now, done: make(chan struct{})}
	k.inflight = f
	go k.fetch(f, use, kid)
	return f, nil
}

// holds reports whether a cached key has kid (any key, for no kid).
// Called with k.mu held.
func (k *keySet) holds(kid string) bool {
	for _, key := range k.keys {
		if kid == "" || key.KeyID == kid {
			return true
		}
	}
	return false
}

// untilAllowed is how long after now use's allowance permits a fetch.
func (k *keySet) untilAllowed(use keyUse, now time.Time) time.Duration {
	missing := 1 - k.allowed[use].TokensAt(now)
	return atLeastASecond(time.Duration(missing * float64(k.window)))
}

func atLeastASecond(d time.Duration) time.Duration {
	return max(d.Round(time.Second), time.Second)
}

// fetch downloads the key set for f, outside any request's context: other
// tokens wait for it too. The client's timeout bounds it.
func (k *keySet) fetch(f *keyFetch, use keyUse, kid string) {
	keys, err := k.download()
	k.mu.Lock()
	if err == nil {
		k.keys, k.fetchedAt, k.fetched = keys, f.at, f.seq
	}
	found := k.holds(kid)
	f.err = err
	k.inflight = nil
	k.mu.Unlock()
	close(f.done)
	if err != nil {
		k.log.Warn("fetching the provider's signing keys failed", "for", use.String(), "err", err)
		return
	}
	k.log.Info("provider signing keys fetched", "for", use.String(), "keys", len(keys), "kid_found", found)
}

func (k *keySet) download() ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("oidc: JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("oidc: fetching the JWKS: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("oidc: reading the JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("oidc: the JWKS is larger than %d bytes", maxJWKSBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("oidc: jwks_uri answered HTTP %d", resp.StatusCode)
	}
	return parseJWKS(body)
}
