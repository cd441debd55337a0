package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rp-project/rp/internal/testprovider"
)

// clock is a test clock that moves only when told to.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// keysClient is a client of a fresh provider with a clock of its own, and
// the keys already fetched once, as after a first sign-in.
func keysClient(t *testing.T) (*Client, *testprovider.Provider, *clock) {
	t.Helper()
	op := testprovider.New(t)
	clk := &clock{now: time.Now()}
	c := New(Settings{Issuer: op.Issuer, DiscoveryURL: op.DiscoveryURL, ClientID: op.ClientID,
		ClientSecret: op.ClientSecret, RedirectURL: "http://rp.test/callback", Scopes: []string{"openid"}, Now: clk.Now})
	if err := c.Discover(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyAs(t, c, forIDTokens, genuineIDToken(op)); err != nil {
		t.Fatalf("a genuine ID token: %v", err)
	}
	return c, op, clk
}

// verifyAs checks a token's signature with the client's key set, charged
// to use, and returns the key set's own error when it is the cause.
func verifyAs(t *testing.T, c *Client, use keyUse, raw string) ([]byte, error) {
	t.Helper()
	m, err := c.metadata()
	if err != nil {
		t.Fatal(err)
	}
	call := &keyCall{use: use}
	payload, err := m.keys.VerifySignature(withKeyCall(t.Context(), call), raw)
	if call.err != nil && call.err != err {
		t.Fatalf("the call's error %v is not the one returned, %v", call.err, err)
	}
	return payload, err
}

func genuineIDToken(op *testprovider.Provider) string {
	return op.SignedIDToken(map[string]any{"iss": op.Issuer, "aud": op.ClientID, "sub": "alice",
		"iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix()})
}

func genuineLogoutToken(op *testprovider.Provider) string {
	return op.LogoutToken(op.LogoutClaims("alice", "s1"), testprovider.TokenHeader{})
}

func forgedLogoutToken(t *testing.T, op *testprovider.Provider, kid string) string {
	t.Helper()
	return op.LogoutToken(op.LogoutClaims("alice", "s1"), testprovider.TokenHeader{Key: forger(t), KID: kid})
}

var (
	forgerOnce sync.Once
	forgerKey  *rsa.PrivateKey
)

func forger(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	forgerOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		forgerKey = k
	})
	return forgerKey
}

// wantThrottled checks that err is a retryable refusal to fetch the keys,
// and returns when to retry.
func wantThrottled(t *testing.T, err error) time.Duration {
	t.Helper()
	var ke *KeysError
	if !errors.Is(err, ErrKeysThrottled) || !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRejected) || !errors.As(err, &ke) {
		t.Fatalf("err = %v, want a *KeysError wrapping ErrKeysThrottled and ErrUnavailable", err)
	}
	if ke.RetryAfter < time.Second {
		t.Fatalf("RetryAfter %s", ke.RetryAfter)
	}
	return ke.RetryAfter
}

func wantRefused(t *testing.T, err error) {
	t.Helper()
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want a refusal", err)
	}
}

// TestKeySetFloodThenRotation is the attack review's finding at this
// level: logout tokens with made-up kids spend logout tokens' allowance,
// the provider rotates its key, and an ID token naming the new kid still
// fetches it at once; a logout token naming it is then verified from the
// cache.
func TestKeySetFloodThenRotation(t *testing.T) {
	c, op, _ := keysClient(t)
	for i := range 50 {
		_, err := verifyAs(t, c, forLogoutTokens, forgedLogoutToken(t, op, rand.Text()))
		if i < 3 {
			wantRefused(t, err)
		} else {
			wantThrottled(t, err)
		}
	}
	op.Rotate(t, false)
	before := op.Count("jwks")
	if _, err := verifyAs(t, c, forIDTokens, genuineIDToken(op)); err != nil {
		t.Fatalf("an ID token naming the new key: %v", err)
	}
	if _, err := verifyAs(t, c, forLogoutTokens, genuineLogoutToken(op)); err != nil {
		t.Fatalf("a logout token naming the new key: %v", err)
	}
	if n := op.Count("jwks") - before; n != 1 {
		t.Fatalf("%d fetches for the new key, want 1", n)
	}
}

// TestKeySetAllowancesAreSeparate: each use's allowance is its own, both
// ways, and so is the memory of absent kids.
func TestKeySetAllowancesAreSeparate(t *testing.T) {
	c, op, _ := keysClient(t) // the first fetch was an ID token's: 2 left
	for range 2 {
		wantRefused(t, second(verifyAs(t, c, forIDTokens, forgedLogoutToken(t, op, rand.Text()))))
	}
	wantThrottled(t, second(verifyAs(t, c, forIDTokens, forgedLogoutToken(t, op, rand.Text()))))

	op.Rotate(t, false)
	if _, err := verifyAs(t, c, forLogoutTokens, genuineLogoutToken(op)); err != nil {
		t.Fatalf("a logout token naming the new key, ID tokens' allowance spent: %v", err)
	}
}

// TestKeySetGuessedKidCannotBlockSignIn: an attacker who guesses the
// provider's next kid and sends it in a forged logout token before the
// rotation marks it absent for logout tokens only. After the rotation an
// ID token naming it is verified at once; a logout token naming it, before
// any sign-in, gets the retryable answer until the window ends.
func TestKeySetGuessedKidCannotBlockSignIn(t *testing.T) {
	for _, signInFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("sign-in first %v", signInFirst), func(t *testing.T) {
			c, op, clk := keysClient(t)
			wantRefused(t, second(verifyAs(t, c, forLogoutTokens, forgedLogoutToken(t, op, "key-2"))))
			op.RotateTo(t, "key-2", false)
			if signInFirst {
				if _, err := verifyAs(t, c, forIDTokens, genuineIDToken(op)); err != nil {
					t.Fatalf("an ID token naming the guessed kid: %v", err)
				}
			} else {
				clk.Advance(wantThrottled(t, second(verifyAs(t, c, forLogoutTokens, genuineLogoutToken(op)))))
			}
			if _, err := verifyAs(t, c, forLogoutTokens, genuineLogoutToken(op)); err != nil {
				t.Fatalf("a logout token naming the guessed kid: %v", err)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

// TestKeySetSameUnknownKidOncePerWindow: the same unknown kid, repeated,
// causes one fetch per window, and in between a retryable answer that
// says when the window ends.
func TestKeySetSameUnknownKidOncePerWindow(t *testing.T) {
	c, op, clk := keysClient(t)
	before := op.Count("jwks")
	wantRefused(t, second(verifyAs(t, c, forLogoutTokens, forgedLogoutToken(t, op, "k-repeated"))))
	for i := range 20 {
		clk.Advance(400 * time.Millisecond)
		wait := wantThrottled(t, second(verifyAs(t, c, forLogoutTokens, forgedLogoutToken(t, op, "k-repeated"))))
		if left := 10*time.Second - time.Duration(i+1)*400*time.Millisecond; wait != atLeastASecond(left) {
			t.Fatalf("RetryAfter %s after %s, want %s", wait, time.Duration(i+1)*400*time.Millisecond, atLeastASecond(left))
		}
	}
	if n := op.Count("jwks") - before; n != 1 {
		t.Fatalf("%d fetches within the window, want 1", n)
	}
	clk.Advance(2 * time.Second) // the window has passed
	wantRefused(t, second(verifyAs(t, c, forLogoutTokens, forgedLogoutToken(t, op, "k-repeated"))))
	if n := op.Count("jwks") - before; n != 2 {
		t.Fatalf("%d fetches over two windows, want 2", n)
	}
}

// TestKeySetDistinctKidFloodIsBounded: distinct made-up kids make at most
// 3 fetches at once, then one per 10 s, per use.
func TestKeySetDistinctKidFloodIsBounded(t *testing.T) {
	c, op, clk := keysClient(t)
	before := op.Count("jwks")
	for range 200 {
		verifyAs(t, c, forLogoutTokens, forgedLogoutToken(t, op, rand.Text()))
	}
	if n := op.Count("jwks") - before; n != 3 {
		t.Fatalf("200 made-up kids: %d fetches, want 3", n)
	}
	for minute := range 6 {
		for range 6 {
			clk.Advance(10 * time.Second)
			for range 50 {
				verifyAs(t, c, forLogoutTokens, forgedLogoutToken(t, op, rand.Text()))
			}
		}
		if n, want := op.Count("jwks")-before, 3+6*(minute+1); n != want {
			t.Fatalf("after %d min: %d fetches, want %d", minute+1, n, want)
		}
	}
}

// TestKeySetKnownKidWithABadSignature: a forged signature under a kid the
// cache holds fetches nothing while the keys are fresh (go-oidc's remote
// set fetches on every one), and once per window after.
func TestKeySetKnownKidWithABadSignature(t *testing.T) {
	c, op, clk := keysClient(t)
	before := op.Count("jwks")
	forged := op.LogoutToken(op.LogoutClaims("alice", "s1"), testprovider.TokenHeader{Key: forger(t)}) // the provider's kid
	for range 20 {
		wantRefused(t, second(verifyAs(t, c, forLogoutTokens, forged)))
	}
	if n := op.Count("jwks") - before; n != 0 {
		t.Fatalf("%d fetches for a bad signature under a fresh key", n)
	}
	clk.Advance(10 * time.Second)
	for range 20 {
		wantRefused(t, second(verifyAs(t, c, forLogoutTokens, forged)))
	}
	if n := op.Count("jwks") - before; n != 1 {
		t.Fatalf("%d fetches once the keys are 10 s old, want 1", n)
	}
}

// TestKeySetConcurrentMissesShareAFetch: many tokens naming the new kid at
// once make one fetch, and all are verified.
func TestKeySetConcurrentMissesShareAFetch(t *testing.T) {
	c, op, _ := keysClient(t)
	op.Rotate(t, false)
	before := op.Count("jwks")
	tok := genuineLogoutToken(op)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			m, _ := c.metadata()
			_, err := m.keys.VerifySignature(withKeyCall(context.Background(), &keyCall{use: forLogoutTokens}), tok)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := op.Count("jwks") - before; n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

// TestKeySetFetchFailure: a failed fetch is retryable, is not counted as
// having looked for the kid, and the next token fetches again at once.
func TestKeySetFetchFailure(t *testing.T) {
	c, op, _ := keysClient(t)
	op.Rotate(t, false)
	op.Set(func(k *testprovider.Knobs) { k.JWKSDown = true })
	tok := genuineLogoutToken(op)
	_, err := c.VerifyLogoutToken(t.Context(), tok)
	var ke *KeysError
	if !errors.As(err, &ke) || !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrKeysThrottled) || errors.Is(err, ErrRejected) {
		t.Fatalf("JWKS down: %v", err)
	}
	op.Set(func(k *testprovider.Knobs) { k.JWKSDown = false })
	if _, err := c.VerifyLogoutToken(t.Context(), tok); err != nil {
		t.Fatalf("JWKS back: %v", err)
	}
}

// TestLogoutTokenThrottledIsUnavailable: VerifyLogoutToken's error for a
// throttled refresh is the retryable kind, not a *TokenError.
func TestLogoutTokenThrottledIsUnavailable(t *testing.T) {
	c, op, _ := keysClient(t)
	for range 3 {
		_, err := c.VerifyLogoutToken(t.Context(), forgedLogoutToken(t, op, rand.Text()))
		var te *TokenError
		if !errors.As(err, &te) {
			t.Fatalf("a made-up kid, fetched for: %v, want a *TokenError", err)
		}
	}
	_, err := c.VerifyLogoutToken(t.Context(), forgedLogoutToken(t, op, rand.Text()))
	var te *TokenError
	if errors.As(err, &te) {
		t.Fatalf("throttled: %v is a *TokenError", err)
	}
	wantThrottled(t, err)
}

func TestKidMemoryIsBounded(t *testing.T) {
	m := newKidMemory(100)
	at := time.Now()
	for i := range 1000 {
		m.remember(fmt.Sprintf("kid-%d", i), at)
	}
	m.remember("kid-999", at.Add(time.Second)) // again: updated, not added
	if m.len() != 100 {
		t.Fatalf("%d kids remembered, want 100", m.len())
	}
	if _, ok := m.lookup("kid-0"); ok {
		t.Fatal("the first kid is still remembered")
	}
	if got, ok := m.lookup("kid-999"); !ok || !got.Equal(at.Add(time.Second)) {
		t.Fatalf("the last kid: %v %v", got, ok)
	}
	if _, ok := m.lookup("kid-900"); !ok {
		t.Fatal("a recent kid is forgotten")
	}
}

func TestParseJWKS(t *testing.T) {
	keys, err := parseJWKS([]byte(`{"keys":[
		{"kty":"RSA","kid":"enc","use":"enc","alg":"RSA-OAEP","n":"sXch","e":"AQAB"},
		{"kty":"EC","kid":"k256","alg":"ES256K","crv":"secp256k1","x":"AA","y":"AA"},
		{"kty":"OKP","kid":"x448","crv":"X448","x":"AA"},
		{"kty":"oct","kid":"mac","k":"c2VjcmV0"},
		{"kty":"EC","kid":"ec","use":"sig","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].KeyID != "ec" {
		t.Fatalf("kept %d keys: %+v", len(keys), keys)
	}
	if _, err := parseJWKS([]byte(`<html>`)); err == nil {
		t.Fatal("not JSON, no error")
	}
}

// TestKeySetKeysArrivingMidVerificationAreTried: a token whose key is
// fetched (for another token) between its look at the cache and its
// decision is verified with the new keys, never refused: the refusal would
// be final for a genuine token.
func TestKeySetKeysArrivingMidVerificationAreTried(t *testing.T) {
	c, op, _ := keysClient(t)
	m, err := c.metadata()
	if err != nil {
		t.Fatal(err)
	}
	ks := m.keys
	op.Rotate(t, false)
	raw := genuineLogoutToken(op)
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	kid := jws.Signatures[0].Header.KeyID
	ks.mu.Lock()
	arrived := ks.started
	ks.mu.Unlock()
	// This token looks at the cache: the new key is not there.
	if _, ok, tried := ks.verifyCached(jws, kid); ok {
		t.Fatal("the new key was cached already")
	} else {
		// Another token fetches the keys in between.
		if _, err := verifyAs(t, c, forIDTokens, genuineIDToken(op)); err != nil {
			t.Fatal(err)
		}
		if _, err := ks.refresh(forLogoutTokens, kid, arrived, tried); !errors.Is(err, errKeysChanged) {
			t.Fatalf("refresh after new keys arrived: %v, want errKeysChanged (verify again)", err)
		}
	}
	if _, err := verifyAs(t, c, forLogoutTokens, raw); err != nil {
		t.Fatalf("the token: %v", err)
	}
}
