package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// ErrGrantRefused means the session must end: the provider refused the
// refresh token with invalid_grant (the user signed out there, was
// disabled, or the token was revoked or used twice), or its answer failed
// a check (a refreshed ID token naming another user, say). Errors wrapping
// it also wrap ErrRejected. Every other failure of a refresh wraps
// ErrUnavailable: a provider that is down, rate-limits, or refuses rp's
// own credentials says nothing about the user's session.
var ErrGrantRefused = errors.New("oidc: the provider refused the refresh token")

// ErrInvalidGrant means the token endpoint itself answered invalid_grant:
// the refresh token is dead at the provider, though the provider may keep
// what it belonged to (Keycloak keeps an offline session until its token
// is revoked). Errors wrapping it also wrap ErrGrantRefused. A refresh
// refused by rp's own checks of an answer does not wrap it: the provider
// accepted that token, and revoking it (Keycloak's revocation also drops
// the client from all of the user's sessions) is not rp's to decide.
var ErrInvalidGrant = errors.New("oidc: the token endpoint answered invalid_grant")

// Refreshed is the outcome of a refresh.
type Refreshed struct {
	AccessToken  string
	RefreshToken string // the rotated one, or the one sent when the provider keeps it
	IDToken      string // the new ID token, or "" when the provider sent none
	Expiry       time.Time
	// Claims are the new ID token's claims (completed from UserInfo as at
	// sign-in), replacing the session's; nil when there is no new ID token.
	Claims json.RawMessage
}

// Refresh redeems refreshToken. A new ID token, when the provider sends
// one, is verified as Core 12.2 requires: signature, iss, aud and exp as
// at sign-in, iat present, and sub, azp, auth_time and (when present)
// nonce equal to those of the session's claims (prev). The call is bounded
// by the provider timeout.
func (c *Client) Refresh(ctx context.Context, refreshToken string, prev json.RawMessage) (*Refreshed, error) {
	m, err := c.metadata()
	if err != nil {
		return nil, err
	}
	if refreshToken == "" {
		return nil, rejected("no refresh token")
	}
	ctx, cancel := context.WithTimeout(c.exchangeContext(ctx), c.s.Timeout)
	defer cancel()

	tok, err := m.oauth2.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			return nil, fmt.Errorf("%w: %w: %w: %s", ErrRejected, ErrGrantRefused, ErrInvalidGrant, brief(errors.New(re.ErrorDescription)))
		}
		if errors.As(err, &re) {
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			return nil, fmt.Errorf("%w: token endpoint refused the refresh: HTTP %d %s %s", ErrUnavailable, status, re.ErrorCode, brief(errors.New(re.ErrorDescription)))
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, unavailable("token endpoint", err)
		}
		return nil, fmt.Errorf("%w: refreshing: %s", ErrUnavailable, brief(err))
	}
	if !strings.EqualFold(tok.TokenType, "Bearer") {
		return nil, fmt.Errorf("%w: token_type %q is not Bearer", ErrUnavailable, tok.TokenType)
	}
	out := &Refreshed{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}
	if out.RefreshToken == "" {
		out.RefreshToken = refreshToken
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return out, nil
	}
	var before map[string]any
	if err := json.Unmarshal(prev, &before); err != nil {
		return nil, fmt.Errorf("oidc: the session's claims: %w", err)
	}
	call := &keyCall{use: forIDTokens}
	idt, err := m.verifier.Verify(withKeyCall(ctx, call), rawID)
	if err != nil {
		if call.err != nil {
			return nil, fmt.Errorf("oidc: refreshed ID token: %w", call.err)
		}
		return nil, refused("refreshed ID token: %s", brief(err))
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, refused("refreshed ID token claims: %v", err)
	}
	if err := c.checkRefreshedIDToken(idt, claims, before); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGrantRefused, err)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, refused("refreshed ID token: at_hash does not match the access token")
		}
	}
	// The new ID token's claims replace the session's, completed from
	// UserInfo as at sign-in: a claim the provider no longer sends (an
	// emptied groups list, say) is gone, not kept from before.
	if m.doc.UserInfoEndpoint != "" && missingRequestedClaims(claims, c.s.Scopes) {
		if err := c.addUserInfo(ctx, m, tok, idt.Subject, claims); err != nil {
			if errors.Is(err, ErrRejected) {
				return nil, fmt.Errorf("%w: %w", ErrGrantRefused, err)
			}
			return nil, err
		}
	}
	merged, err := json.Marshal(claims)
	if err != nil {
		return nil, fmt.Errorf("oidc: encoding claims: %w", err)
	}
	out.IDToken, out.Claims = rawID, merged
	return out, nil
}

// refused is an answer that ends the session.
func refused(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrRejected, ErrGrantRefused, fmt.Sprintf(format, args...))
}

// checkRefreshedIDToken applies Core 12.2 to an ID token from a refresh.
func (c *Client) checkRefreshedIDToken(idt *gooidc.IDToken, claims, before map[string]any) error {
	if idt.Subject == "" || idt.Subject != before["sub"] {
		return rejected("refreshed ID token names another sub")
	}
	if iss, _ := before["iss"].(string); iss != "" && idt.Issuer != iss {
		return rejected("refreshed ID token names another iss")
	}
	if _, ok := claims["iat"]; !ok || idt.IssuedAt.IsZero() {
		return rejected("refreshed ID token has no iat")
	}
	if idt.IssuedAt.After(c.s.Now().Add(c.s.ClockSkew)) {
		return rejected("refreshed ID token iat is in the future")
	}
	for _, aud := range idt.Audience {
		if aud != c.s.ClientID {
			return rejected("refreshed ID token has an additional audience %q", aud)
		}
	}
	azp, hasAZP := claims["azp"]
	if len(idt.Audience) > 1 && !hasAZP {
		return rejected("refreshed ID token has several audiences but no azp")
	}
	if hasAZP && azp != c.s.ClientID {
		return rejected("refreshed ID token azp is not this client")
	}
	if n, ok := claims["nonce"]; ok {
		was, _ := before["nonce"].(string)
		now, _ := n.(string)
		if was == "" || subtle.ConstantTimeCompare([]byte(was), []byte(now)) != 1 {
			return rejected("refreshed ID token nonce differs from the sign-in's")
		}
	}
	if at, ok := claims["auth_time"]; ok {
		if was, had := before["auth_time"]; had && !sameNumber(was, at) {
			return rejected("refreshed ID token auth_time differs from the sign-in's")
		}
	}
	return nil
}

func sameNumber(a, b any) bool {
	x, ok1 := a.(float64)
	y, ok2 := b.(float64)
	return ok1 && ok2 && x == y
}

// CanRevoke reports whether the provider has a revocation endpoint.
func (c *Client) CanRevoke() bool {
	m, err := c.metadata()
	return err == nil && m.doc.RevocationEndpoint != ""
}

// Revoke asks the provider to revoke token (RFC 7009), with hint
// "refresh_token" or "access_token". It does nothing when the provider has
// no revocation endpoint.
func (c *Client) Revoke(ctx context.Context, token, hint string) error {
	m, err := c.metadata()
	if err != nil {
		return err
	}
	if m.doc.RevocationEndpoint == "" || token == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.s.Timeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	if c.s.AuthInParams {
		form.Set("client_id", c.s.ClientID)
		form.Set("client_secret", c.s.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.doc.RevocationEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("oidc: revocation request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !c.s.AuthInParams {
		// RFC 6749 2.3.1: both are form-urlencoded before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(c.s.ClientID), url.QueryEscape(c.s.ClientSecret))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return unavailable("revocation endpoint", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: revocation endpoint answered HTTP %d", ErrUnavailable, resp.StatusCode)
	}
	return nil
}
