package session

import (
	"encoding/json"
	"time"
)

// Login is who is signed in: what a signed-in session holds that every
// request needs, server-side only.
type Login struct {
	Issuer     string          `json:"iss"`
	Subject    string          `json:"sub"`
	SID        string          `json:"sid,omitempty"` // the provider's session id
	Claims     json.RawMessage `json:"claims"`        // identity claims
	SignedInAt time.Time       `json:"signed_in_at"`
	Browser    string          `json:"browser,omitempty"` // a short description of the browser, for "your sessions"
}

// Tokens are the provider's tokens of a signed-in session. They are kept
// apart from Login and decoded only when used (logout, passing a token
// on): they are most of a session's bytes, and most requests need none.
type Tokens struct {
	IDToken      string    `json:"id_token"` // raw, for id_token_hint
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"token_expiry,omitzero"` // the access token's
	// RefreshAt is when to refresh, shortly before Expiry; zero: never.
	RefreshAt time.Time `json:"refresh_at,omitzero"`
	// Claims are the claims that came with the last refresh's ID token;
	// nil before any. The session's login has them too.
	Claims json.RawMessage `json:"claims,omitempty"`
}

// PendingAuth is an authorization request in flight, bound to the browser
// that started it.
type PendingAuth struct {
	State    string    `json:"state"`
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"`
	ReturnTo string    `json:"return_to"`
	Created  time.Time `json:"created"`
	// WithoutOffline: this authorization request did not ask for
	// offline_access, which the provider refused to the same browser's
	// sign-in just before (oidc.ErrOfflineRefused).
	WithoutOffline bool `json:"without_offline,omitempty"`
}

// LogoutNotice is what /logged-out needs to know about the logout that led
// there.
type LogoutNotice struct {
	State    string `json:"state,omitempty"` // sent to end_session_endpoint; empty when local only
	Provider bool   `json:"provider"`        // the provider was asked to end its session too
}
