package testprovider

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// BackchannelEvent is the events member of a logout token.
const BackchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutClaims returns the claims of a valid logout token for sub and sid
// (either may be empty), as Back-Channel Logout 1.0 with its errata has
// them: iss, aud, iat, exp, a fresh jti, and the event.
func (p *Provider) LogoutClaims(sub, sid string) map[string]any {
	now := p.now()
	c := map[string]any{
		"iss":    p.Issuer,
		"aud":    p.ClientID,
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    rand.Text(),
		"events": map[string]any{BackchannelEvent: map[string]any{}},
	}
	if sub != "" {
		c["sub"] = sub
	}
	if sid != "" {
		c["sid"] = sid
	}
	return c
}

// KeycloakLogoutClaims returns claims exactly as Keycloak 26 sends them:
// its own "typ": "Logout" claim, azp, and revoke_offline_access inside the
// event object.
func (p *Provider) KeycloakLogoutClaims(sub, sid string) map[string]any {
	c := p.LogoutClaims(sub, sid)
	c["typ"] = "Logout"
	c["azp"] = p.ClientID
	c["events"] = map[string]any{BackchannelEvent: map[string]any{"revoke_offline_access": false}}
	return c
}

// TokenHeader shapes how a logout token is signed. The zero value signs
// with the provider's current key, RS256, its kid and typ logout+jwt.
type TokenHeader struct {
	Typ  string          // typ header; "" is logout+jwt, "-" leaves it out
	Alg  string          // default RS256
	Key  *rsa.PrivateKey // a key of someone else, to forge
	KID  string          // instead of the key's kid
	HMAC []byte          // sign with HS256 and this secret instead
	None bool            // alg none, no signature
}

// LogoutToken signs claims as a logout token.
func (p *Provider) LogoutToken(claims map[string]any, h TokenHeader) string {
	typ := h.Typ
	switch typ {
	case "":
		typ = "logout+jwt"
	case "-":
		typ = ""
	}
	if h.None || h.HMAC != nil {
		// By hand: go-jose refuses alg none and HMAC keys shorter than
		// the hash, and an attacker would not.
		header := map[string]any{"alg": "none"}
		if h.HMAC != nil {
			header["alg"] = "HS256"
		}
		if typ != "" {
			header["typ"] = typ
		}
		hb, _ := json.Marshal(header)
		cb, _ := json.Marshal(claims)
		input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
		if h.HMAC == nil {
			return input + "."
		}
		mac := hmac.New(sha256.New, h.HMAC)
		mac.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	p.mu.Lock()
	key, kid := p.keys[0].priv, p.keys[0].kid
	p.mu.Unlock()
	if h.Key != nil {
		key = h.Key
	}
	if h.KID != "" {
		kid = h.KID
	}
	alg := jose.RS256
	if h.Alg != "" {
		alg = jose.SignatureAlgorithm(h.Alg)
	}
	return signJWT(maps.Clone(claims), alg, key, kid, typ)
}
