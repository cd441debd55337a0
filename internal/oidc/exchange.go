package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Identity is the outcome of a successful sign-in.
type Identity struct {
	Issuer       string
	Subject      string
	SessionID    string          // the provider's "sid", may be empty
	Claims       json.RawMessage // ID token claims, completed from UserInfo
	IDToken      string          // raw, for id_token_hint
	AccessToken  string
	RefreshToken string
	Expiry       time.Time // access token expiry, zero when unknown
}

// Exchange redeems code with the verifier of a, then verifies the ID token
// with go-oidc (signature with the one configured alg, iss, aud, exp) plus
// the checks go-oidc leaves to its caller: nonce, azp, iat, sub and at_hash.
// It completes missing requested claims from UserInfo, whose sub must match.
func (c *Client) Exchange(ctx context.Context, code string, a AuthRequest) (*Identity, error) {
	m, err := c.metadata()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.exchangeContext(ctx), 3*c.s.Timeout)
	defer cancel()

	tok, err := m.oauth2.Exchange(ctx, code, oauth2.VerifierOption(a.Verifier))
	if err != nil {
		if m.offlineAdded && !a.WithoutOffline && refusesOffline(err) {
			return nil, fmt.Errorf("%w: %w", ErrOfflineRefused, classifyTokenError(err))
		}
		return nil, classifyTokenError(err)
	}
	if !strings.EqualFold(tok.TokenType, "Bearer") {
		return nil, rejected("token_type %q is not Bearer", tok.TokenType)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, rejected("token response has no id_token")
	}

	call := &keyCall{use: forIDTokens}
	idt, err := m.verifier.Verify(withKeyCall(ctx, call), rawID)
	if err != nil {
		if call.err != nil {
			return nil, fmt.Errorf("oidc: ID token: %w", call.err)
		}
		return nil, fmt.Errorf("%w: ID token: %s", ErrRejected, brief(err))
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, rejected("ID token claims: %v", err)
	}
	if err := c.checkIDToken(idt, claims, a.Nonce); err != nil {
		return nil, err
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, rejected("at_hash does not match the access token")
		}
	}

	if m.doc.UserInfoEndpoint != "" && missingRequestedClaims(claims, c.s.Scopes) {
		if err := c.addUserInfo(ctx, m, tok, idt.Subject, claims); err != nil {
			return nil, err
		}
	}

	merged, err := json.Marshal(claims)
	if err != nil {
		return nil, fmt.Errorf("oidc: encoding claims: %w", err)
	}
	sid, _ := claims["sid"].(string)
	return &Identity{
		Issuer:       idt.Issuer,
		Subject:      idt.Subject,
		SessionID:    sid,
		Claims:       merged,
		IDToken:      rawID,
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		Expiry:       tok.Expiry,
	}, nil
}

// checkIDToken applies OpenID Connect Core 3.1.3.7 beyond go-oidc's checks.
func (c *Client) checkIDToken(idt *gooidc.IDToken, claims map[string]any, nonce string) error {
	if idt.Subject == "" {
		return rejected("ID token has no sub")
	}
	if idt.Nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return rejected("ID token nonce does not match the authorization request")
	}
	if _, ok := claims["iat"]; !ok || idt.IssuedAt.IsZero() {
		return rejected("ID token has no iat")
	}
	if idt.IssuedAt.After(c.s.Now().Add(c.s.ClockSkew)) {
		return rejected("ID token iat %s is in the future", idt.IssuedAt.UTC().Format(time.RFC3339))
	}
	for _, aud := range idt.Audience {
		// Core 3.1.3.7: additional audiences not trusted by the client
		// make the token invalid; rp trusts none but itself.
		if aud != c.s.ClientID {
			return rejected("ID token has an additional audience %q", aud)
		}
	}
	azp, hasAZP := claims["azp"]
	if len(idt.Audience) > 1 && !hasAZP {
		return rejected("ID token has several audiences but no azp")
	}
	if hasAZP && azp != c.s.ClientID {
		return rejected("ID token azp is not this client")
	}
	return nil
}

// missingRequestedClaims reports whether a requested scope's main claim is
// absent, which many providers put only into UserInfo.
func missingRequestedClaims(claims map[string]any, scopes []string) bool {
	want := map[string][]string{
		"email":   {"email"},
		"profile": {"name", "preferred_username"},
	}
	for _, scope := range scopes {
		names, ok := want[scope]
		if !ok {
			continue
		}
		if !slices.ContainsFunc(names, func(n string) bool { _, ok := claims[n]; return ok }) {
			return true
		}
	}
	return false
}

func (c *Client) addUserInfo(ctx context.Context, m *metadata, tok *oauth2.Token, sub string, claims map[string]any) error {
	ui, err := m.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		if ctx.Err() != nil {
			return unavailable("userinfo", ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			return unavailable("userinfo", err)
		}
		return fmt.Errorf("%w: userinfo: %s", ErrUnavailable, brief(err))
	}
	if ui.Subject != sub {
		return rejected("UserInfo sub differs from the ID token's")
	}
	var extra map[string]any
	if err := ui.Claims(&extra); err != nil {
		return rejected("UserInfo claims: %v", err)
	}
	for k, v := range extra {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

// refusesOffline reports whether err, from the code exchange, is the token
// endpoint's refusal with not_allowed (Keycloak's answer for offline tokens
// the user or client may not have) or invalid_scope.
func refusesOffline(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 &&
		(re.ErrorCode == "not_allowed" || re.ErrorCode == "invalid_scope")
}

// classifyTokenError turns an x/oauth2 exchange error into one wrapping
// ErrRejected (the provider refused) or ErrUnavailable. The response body is
// not kept: only the OAuth error code and description.
func classifyTokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if status >= 500 || (re.ErrorCode == "" && status != 400 && status != 401) {
			return fmt.Errorf("%w: token endpoint answered HTTP %d", ErrUnavailable, status)
		}
		return fmt.Errorf("%w: token endpoint refused the code: %s (HTTP %d) %s", ErrRejected, re.ErrorCode, status, brief(errors.New(re.ErrorDescription)))
	}
	var ue *url.Error
	if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) {
		return unavailable("token endpoint", err)
	}
	return fmt.Errorf("%w: token response: %w", ErrRejected, err)
}
