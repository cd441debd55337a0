package oidc

import (
	"crypto/rand"
	"net/url"
	"slices"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// AuthRequest holds the secrets of one authorization request. The caller
// binds it to the browser and hands it back to Exchange exactly once.
type AuthRequest struct {
	State    string
	Nonce    string
	Verifier string // PKCE code_verifier
	// WithoutOffline leaves out the offline_access scope rp adds by
	// itself (Settings.OfflineAccess), and with it prompt=consent: for a
	// sign-in started again after ErrOfflineRefused. offline_access
	// listed in Settings.Scopes stays.
	WithoutOffline bool
}

// NewAuthRequest returns fresh random values: state and nonce carry 128
// bits, the PKCE verifier 256 bits.
func NewAuthRequest() AuthRequest {
	return AuthRequest{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
}

// AuthCodeURL returns the provider's authorization URL for a: code flow,
// S256 PKCE challenge, state and nonce.
func (c *Client) AuthCodeURL(a AuthRequest) (string, error) {
	m, err := c.metadata()
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.Verifier), gooidc.Nonce(a.Nonce)}
	switch {
	case a.WithoutOffline && m.offlineAdded:
		scopes := slices.DeleteFunc(slices.Clone(m.oauth2.Scopes), func(s string) bool { return s == "offline_access" })
		opts = append(opts, oauth2.SetAuthURLParam("scope", strings.Join(scopes, " ")))
	case m.offline:
		// Core 11: offline_access needs prompt=consent, or providers drop
		// it. Keycloak shows consent only to clients that require it.
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "consent"))
	}
	return m.oauth2.AuthCodeURL(a.State, opts...), nil
}

// CheckIssuerParam applies RFC 9207 to the authorization response's query:
// an "iss" parameter, when present, must equal the issuer; when the provider
// advertises authorization_response_iss_parameter_supported it must be
// present.
func (c *Client) CheckIssuerParam(q url.Values) error {
	m, err := c.metadata()
	if err != nil {
		return err
	}
	iss, present := q["iss"]
	switch {
	case !present && m.issParam:
		return rejected("authorization response lacks the iss parameter the provider advertises")
	case !present:
		return nil
	case len(iss) != 1 || iss[0] != c.s.Issuer:
		return rejected("authorization response iss parameter does not name the configured issuer")
	}
	return nil
}
