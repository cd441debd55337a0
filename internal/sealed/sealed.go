// Package sealed seals small values for the browser to carry: encrypted
// and authenticated (an encrypted JWT, JWE "dir" with A256GCM, by
// go-jose), for one purpose, until an expiry. rp uses it for what a
// browser must remember before it has signed in (a sign-in in flight) or
// after it has signed out (the logout's state), so that neither is written
// to the shared session store.
package sealed

import (
	"bytes"
	"crypto/hkdf"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ErrInvalid is returned by Open for a value that is not one this Sealer's
// keys sealed for the purpose, or whose time has run out. It says nothing
// more, on purpose.
var ErrInvalid = errors.New("sealed: invalid or expired value")

// Leeway is the clock difference tolerated between the instance that
// seals a value and the one that opens it, for its expiry and issue time.
const Leeway = time.Minute

// keyInfo separates these keys from any other use of the same secret.
const keyInfo = "rp sealed browser values v1"

// StretchIterations is PBKDF2-SHA256's work factor in Stretch: OWASP's
// figure for passwords (2023), about 0.1 s of one core, once at start.
const StretchIterations = 600_000

// Stretch turns a secret that may not be random (a client secret someone
// typed) into one fit for New, with PBKDF2-SHA256 salted by context: a
// sealed value, which anyone can get from rp, then costs whoever guesses
// the secret offline StretchIterations hashes per guess instead of one.
func Stretch(secret, context string) string {
	k, err := pbkdf2.Key(sha256.New, secret, []byte(keyInfo+"\x00"+context), StretchIterations, 32)
	if err != nil {
		// Only for parameters outside FIPS 140-3's bounds, which these
		// are not.
		panic(fmt.Sprintf("sealed: stretching a secret: %v", err))
	}
	return hex.EncodeToString(k)
}

// Sealer seals with its first key and opens with any of its keys, so that a
// secret can be rotated without cutting what browsers carry.
type Sealer struct {
	keys [][]byte
	enc  jose.Encrypter
}

// New derives one 256-bit key from each secret (HKDF-SHA256, salted by
// context, which names the deployment: values sealed for one do not open
// in another that shares a secret) and returns a Sealer. The first secret
// seals; all open. A key is only as strong as its secret: give at least
// 32 random bytes, or Stretch a secret that may not be random. An empty
// secret is refused.
func New(context string, secrets ...string) (*Sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("sealed: no secret")
	}
	s := &Sealer{}
	for i, secret := range secrets {
		if secret == "" {
			return nil, fmt.Errorf("sealed: secret %d is empty", i+1)
		}
		k, err := hkdf.Key(sha256.New, []byte(secret), []byte(context), keyInfo, 32)
		if err != nil {
			return nil, fmt.Errorf("sealed: deriving a key: %w", err)
		}
		s.keys = append(s.keys, k)
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.DIRECT, Key: s.keys[0]},
		(&jose.EncrypterOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	s.enc = enc
	return s, nil
}

// claims wraps a sealed value: the purpose is its audience, so that a
// value sealed for one purpose is refused for another.
type claims struct {
	jwt.Claims
	Value any `json:"v"`
}

// Seal returns v sealed for purpose until expiry, in a form that is safe
// as a cookie value (base64url and dots). The claims are encoded without
// HTML escaping, so a value holding a URL's & < > stays its own size.
func (s *Sealer) Seal(purpose string, v any, now, expiry time.Time) (string, error) {
	c := claims{
		Claims: jwt.Claims{Audience: jwt.Audience{purpose}, IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(expiry)},
		Value:  v,
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(c); err != nil {
		return "", fmt.Errorf("sealed: encoding %s: %w", purpose, err)
	}
	obj, err := s.enc.Encrypt(bytes.TrimRight(b.Bytes(), "\n"))
	if err != nil {
		return "", fmt.Errorf("sealed: sealing %s: %w", purpose, err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("sealed: sealing %s: %w", purpose, err)
	}
	return out, nil
}

// Open opens a value sealed for purpose into v, at time now. It returns
// ErrInvalid when no key opens it, it was sealed for another purpose, or
// its expiry has passed.
func (s *Sealer) Open(purpose, sealed string, now time.Time, v any) error {
	obj, err := jose.ParseEncryptedCompact(sealed, []jose.KeyAlgorithm{jose.DIRECT}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		return ErrInvalid
	}
	var plain []byte
	for _, k := range s.keys {
		if plain, err = obj.Decrypt(k); err == nil {
			break
		}
	}
	if err != nil {
		return ErrInvalid
	}
	c := claims{Value: v}
	if json.Unmarshal(plain, &c) != nil || c.Expiry == nil {
		return ErrInvalid
	}
	// Another instance, whose clock may differ a little, may have sealed it.
	if c.Claims.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{purpose}, Time: now}, Leeway) != nil {
		return ErrInvalid
	}
	return nil
}
