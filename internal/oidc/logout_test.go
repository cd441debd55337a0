package oidc

import (
	"errors"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/testprovider"
)

func TestIsMediaType(t *testing.T) {
	for typ, want := range map[string]bool{
		"logout+jwt": true, "Logout+JWT": true, "application/logout+jwt": true, "APPLICATION/LOGOUT+JWT": true,
		"application/logout+jwt; charset=utf-8": true, "logout+jwt ": true,
		"at+jwt": false, "jwt": false, "application/jwt+logout": false, "": false, "logout": false,
	} {
		if got := isMediaType(typ, "logout+jwt"); got != want {
			t.Errorf("isMediaType(%q, logout+jwt) = %v", typ, got)
		}
	}
	if !isMediaType("JWT", "jwt") || !isMediaType("application/JWT", "jwt") {
		t.Error("JWT not recognised")
	}
}

// TestLogoutTokenRememberUntil: a jti is remembered exactly as long as its
// token could be accepted: until exp, or until it is too old.
func TestLogoutTokenRememberUntil(t *testing.T) {
	op := testprovider.New(t)
	c := newClient(t, op)
	now := time.Now()

	claims := op.LogoutClaims("alice", "s1")
	claims["iat"], claims["exp"] = now.Unix(), now.Add(2*time.Minute).Unix()
	lt, err := c.VerifyLogoutToken(t.Context(), op.LogoutToken(claims, testprovider.TokenHeader{}))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Unix(now.Add(2*time.Minute).Unix(), 0).Add(c.s.ClockSkew + time.Second); !lt.RememberUntil.Equal(want) {
		t.Errorf("with exp: remembered until %v, want %v", lt.RememberUntil, want)
	}
	if lt.Subject != "alice" || lt.SessionID != "s1" || lt.ID == "" || lt.Issuer != op.Issuer {
		t.Errorf("token %+v", lt)
	}

	claims = op.LogoutClaims("alice", "s1")
	delete(claims, "exp")
	claims["iat"] = now.Unix()
	lt, err = c.VerifyLogoutToken(t.Context(), op.LogoutToken(claims, testprovider.TokenHeader{}))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Unix(now.Unix(), 0).Add(LogoutTokenMaxAge + c.s.ClockSkew + time.Second); !lt.RememberUntil.Equal(want) {
		t.Errorf("without exp: remembered until %v, want %v", lt.RememberUntil, want)
	}
}

func TestLogoutTokenErrorsAreRejections(t *testing.T) {
	op := testprovider.New(t)
	c := newClient(t, op)
	claims := op.LogoutClaims("alice", "s1")
	claims["nonce"] = "x"
	_, err := c.VerifyLogoutToken(t.Context(), op.LogoutToken(claims, testprovider.TokenHeader{}))
	var te *TokenError
	if !errors.As(err, &te) || !errors.Is(err, ErrRejected) || te.Reason == "" {
		t.Fatalf("%v", err)
	}

	notReady := New(Settings{Issuer: "http://127.0.0.1:1", ClientID: "x"})
	if _, err := notReady.VerifyLogoutToken(t.Context(), "a.b.c"); !errors.Is(err, ErrNotReady) {
		t.Fatalf("before discovery: %v", err)
	}
}
