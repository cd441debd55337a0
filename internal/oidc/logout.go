package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// LogoutTokenMaxAge bounds how long after its iat a logout token is
// accepted. Providers deliver them at once; an old token is a replay, and
// the bound is also how long a jti must be remembered.
const LogoutTokenMaxAge = 5 * time.Minute

// backchannelEvent is the member of "events" that makes a JWT a logout
// token (Back-Channel Logout 1.0, section 2.4).
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutToken is a verified back-channel logout token: which sessions the
// provider asks rp to end.
type LogoutToken struct {
	Issuer    string
	Subject   string // may be empty when SessionID is set
	SessionID string // may be empty when Subject is set
	ID        string // jti: never accept it twice
	// RememberUntil is when the token stops being acceptable anyway (too
	// old, or expired): its jti must be remembered until then.
	RememberUntil time.Time
}

// TokenError is a refused token. Reason is fixed text that quotes nothing
// from the token, fit for the provider's eyes in an error response; the
// error's text adds details for rp's log.
type TokenError struct {
	Reason string
	detail string
}

func (e *TokenError) Error() string {
	if e.detail == "" {
		return "oidc: logout token refused: " + e.Reason
	}
	return "oidc: logout token refused: " + e.Reason + ": " + e.detail
}

// Unwrap makes every TokenError an ErrRejected.
func (e *TokenError) Unwrap() error { return ErrRejected }

func refuse(reason, format string, args ...any) error {
	return &TokenError{Reason: reason, detail: fmt.Sprintf(format, args...)}
}

// VerifyLogoutToken verifies a back-channel logout token: a compact JWS
// signed with the one registered algorithm by a key of the provider,
// verified once with the verifier's key set (a refresh of the keys for an
// unknown kid is charged to logout tokens' allowance, never to ID
// tokens'; when it is refused or fails, the error is a *KeysError, which
// is ErrUnavailable: the provider should retry). rp then checks the verified
// claims, all that go-oidc's VerifyLogout checks and what it leaves to its
// caller and the spec's errata ask; for a token with exp, VerifyLogout
// runs its own checks too. The checks:
//   - typ, when present, is logout+jwt or JWT (as media types);
//   - iss is the issuer; aud is rp's client id and no one else's, azp
//     (required with several audiences) is rp;
//   - iat is present, not in the future and at most LogoutTokenMaxAge old;
//     exp, when present, has not passed (VerifyLogout requires exp, which
//     the spec did not before its errata: a token without it passes rp's
//     checks alone);
//   - jti is present; sid or sub is present; nonce is absent;
//   - events is a JSON object whose backchannel-logout member is an object.
//
// Replay (the same jti twice) is the caller's to refuse, with a store
// shared by every instance; RememberUntil says for how long. Unknown claims
// are ignored.
func (c *Client) VerifyLogoutToken(ctx context.Context, raw string) (*LogoutToken, error) {
	m, err := c.metadata()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.exchangeContext(ctx), c.s.Timeout)
	defer cancel()

	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(c.s.SigningAlg)})
	if err != nil {
		return nil, refuse("not a JWS compact serialization signed with the registered algorithm "+c.s.SigningAlg, "%s", brief(err))
	}
	if len(jws.Signatures) != 1 {
		return nil, refuse("not a JWS with exactly one signature", "")
	}
	if typ, ok := jws.Signatures[0].Header.ExtraHeaders[jose.HeaderType]; ok {
		s, _ := typ.(string)
		if !isMediaType(s, "logout+jwt") && !isMediaType(s, "jwt") {
			return nil, refuse("the typ header is neither logout+jwt nor JWT", "typ %q", s)
		}
	}
	call := &keyCall{use: forLogoutTokens}
	ctx = withKeyCall(ctx, call)
	payload, err := m.keys.VerifySignature(ctx, raw)
	if err != nil {
		return nil, keyOrClaimError(call, err)
	}
	lt, hasExp, err := c.checkLogoutClaims(payload)
	if err != nil {
		return nil, err
	}
	if hasExp {
		// go-oidc's own checks as well, on the payload just verified (the
		// key set does not verify the signature twice). It requires exp,
		// which the spec did not until its errata: tokens without exp pass
		// rp's checks alone.
		if _, err := m.verifier.VerifyLogout(withVerified(ctx, raw, payload), raw); err != nil {
			return nil, keyOrClaimError(call, err)
		}
	}
	return lt, nil
}

// keyOrClaimError tells a token that could not be verified for want of
// the provider's current keys (they could not be fetched, or not yet: a
// retry can succeed) apart from a token that failed verification.
func keyOrClaimError(call *keyCall, err error) error {
	if call.err != nil {
		return fmt.Errorf("oidc: logout token: %w", call.err)
	}
	var expired *gooidc.TokenExpiredError
	if errors.As(err, &expired) {
		return refuse("the token has expired", "exp %s", expired.Expiry.UTC().Format(time.RFC3339))
	}
	return refuse("signature or claims failed verification", "%s", brief(err))
}

// logoutClaims are the claims rp reads; members are decoded one by one so
// that presence (nonce, iat) and type are each checked.
type logoutClaims struct {
	Issuer   string
	Subject  string
	SID      string
	JTI      string
	Audience []string
	AZP      *string
	IssuedAt *float64
	Expiry   *float64
}

// checkLogoutClaims applies every claim check to a verified payload, and
// reports whether it has exp.
func (c *Client) checkLogoutClaims(payload []byte) (_ *LogoutToken, hasExp bool, _ error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(payload, &all); err != nil || all == nil {
		return nil, false, refuse("the claims are not a JSON object", "")
	}
	var lc logoutClaims
	for name, dst := range map[string]any{
		"iss": &lc.Issuer, "sub": &lc.Subject, "sid": &lc.SID, "jti": &lc.JTI,
		"azp": &lc.AZP, "iat": &lc.IssuedAt, "exp": &lc.Expiry,
	} {
		if v, ok := all[name]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return nil, false, refuse("the "+name+" claim has the wrong type", "%s", brief(err))
			}
		}
	}
	lt, err := c.checkLogoutClaimValues(lc, all)
	return lt, lc.Expiry != nil, err
}

func (c *Client) checkLogoutClaimValues(lc logoutClaims, all map[string]json.RawMessage) (*LogoutToken, error) {
	if _, ok := all["nonce"]; ok {
		return nil, refuse("a logout token must not carry a nonce", "")
	}
	if lc.Issuer != c.s.Issuer {
		return nil, refuse("iss is not the configured issuer", "iss %q", lc.Issuer)
	}
	aud, err := audiences(all["aud"])
	if err != nil {
		return nil, refuse("aud is missing or malformed", "%s", brief(err))
	}
	for _, a := range aud {
		// As for ID tokens (Core 3.1.3.7): rp trusts no other audience.
		if a != c.s.ClientID {
			return nil, refuse("aud names another client", "aud %q", aud)
		}
	}
	if len(aud) > 1 && lc.AZP == nil {
		return nil, refuse("several audiences but no azp", "")
	}
	if lc.AZP != nil && *lc.AZP != c.s.ClientID {
		return nil, refuse("azp is not this client", "azp %q", *lc.AZP)
	}
	now := c.s.Now()
	if lc.IssuedAt == nil {
		return nil, refuse("iat is missing", "")
	}
	iat := unixTime(*lc.IssuedAt)
	if iat.After(now.Add(c.s.ClockSkew)) {
		return nil, refuse("iat is in the future", "iat %s", iat.UTC().Format(time.RFC3339))
	}
	until := iat.Add(LogoutTokenMaxAge + c.s.ClockSkew)
	if now.After(until) {
		return nil, refuse("the token was issued too long ago", "iat %s, accepted for %s", iat.UTC().Format(time.RFC3339), LogoutTokenMaxAge)
	}
	if lc.Expiry != nil {
		exp := unixTime(*lc.Expiry).Add(c.s.ClockSkew)
		if now.After(exp) {
			return nil, refuse("the token has expired", "exp %s", exp.UTC().Format(time.RFC3339))
		}
		if exp.Before(until) {
			until = exp
		}
	}
	if lc.JTI == "" {
		return nil, refuse("jti is missing", "")
	}
	if lc.Subject == "" && lc.SID == "" {
		return nil, refuse("neither sid nor sub is present", "")
	}
	if err := checkEvents(all["events"]); err != nil {
		return nil, err
	}
	return &LogoutToken{Issuer: lc.Issuer, Subject: lc.Subject, SessionID: lc.SID, ID: lc.JTI,
		RememberUntil: until.Add(time.Second)}, nil
}

// checkEvents requires events to be a JSON object holding the
// backchannel-logout member, itself a JSON object (usually {}; Keycloak
// puts revoke_offline_access in it). Other members are ignored.
func checkEvents(raw json.RawMessage) error {
	if raw == nil {
		return refuse("events is missing", "")
	}
	var events map[string]json.RawMessage
	if err := json.Unmarshal(raw, &events); err != nil || events == nil {
		return refuse("events is not a JSON object", "")
	}
	member, ok := events[backchannelEvent]
	if !ok {
		return refuse("events lacks "+backchannelEvent, "")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(member, &obj); err != nil || obj == nil {
		return refuse("the "+backchannelEvent+" event is not a JSON object", "")
	}
	return nil
}

// audiences reads aud: a string or an array of strings, never empty.
func audiences(raw json.RawMessage) ([]string, error) {
	if raw == nil {
		return nil, errors.New("no aud")
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" {
			return nil, errors.New("empty aud")
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, err
	}
	if len(many) == 0 {
		return nil, errors.New("empty aud")
	}
	return many, nil
}

func unixTime(secs float64) time.Time {
	whole := int64(secs)
	return time.Unix(whole, int64((secs-float64(whole))*1e9))
}

// isMediaType compares a JOSE typ with a media type as RFC 7515 4.1.9
// says: case-insensitively, with "application/" optional.
func isMediaType(typ, want string) bool {
	mt, _, err := mime.ParseMediaType(typ)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(typ))
	}
	mt = strings.TrimPrefix(mt, "application/")
	return mt == want
}
