// Package testprovider is an in-process OpenID provider for rp's tests. It
// follows the protocol by default (discovery, authorization with PKCE,
// token, UserInfo, JWKS, end session) and misbehaves on demand through
// Provider's knobs, so tests can check what rp refuses.
package testprovider

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Provider is the test OP. Change its knobs through Set, which holds the
// lock, while requests may be in flight.
type Provider struct {
	Issuer       string // as in tokens and as browsers reach it
	DiscoveryURL string // where rp fetches discovery (RP_DISCOVERY_URL)
	ClientID     string
	ClientSecret string

	srv      *httptest.Server
	keycloak string // realm name when shaped like Keycloak
	front    string // origin browsers use
	back     string // origin rp uses server to server
	paths    paths

	mu      sync.Mutex
	knobs   Knobs
	keys    []signingKey // keys[0] signs; all are published
	grants  map[string]grant
	refresh map[string]grant // live refresh tokens
	revoked []string
	scopes  []string // the scope of each authorization request
	counts  map[string]int
	logouts []url.Values
	// disabled users: their refresh tokens are kept but refused
	disabled map[string]bool
	now      func() time.Time
}

// Knobs change how the provider behaves. The zero value is a well-behaved
// provider.
type Knobs struct {
	Down          bool          // every endpoint answers 503
	TokenDelay    time.Duration // the token endpoint waits this long first
	JWKSDown      bool          // the JWKS endpoint answers 503
	NoIssParam    bool          // do not advertise or send RFC 9207 iss
	IssParam      string        // send this iss in the authorization response instead; "-" sends none
	NoEndSession  bool          // no end_session_endpoint in discovery
	DiscoveryIss  string        // issuer named in discovery instead of the real one
	IDTokenClaims func(map[string]any)
	// SignWith signs ID tokens with this key and kid instead of the
	// published one (a forged signature, or an unknown kid).
	SignWith      *rsa.PrivateKey
	SignKID       string
	SignAlg       string              // default RS256
	OmitIDToken   bool                // token response without id_token
	TokenType     string              // token_type instead of Bearer
	CodeFirst     bool                // check the code before the client, as zitadel does
	ReuseCodes    bool                // redeem a code more than once (a careless provider)
	PadDiscovery  int                 // bytes of padding added to discovery
	UserInfo      map[string]any      // extra UserInfo claims
	UserInfoSub   string              // UserInfo sub instead of the user's
	TokenError    string              // token endpoint answers this OAuth error
	Subject       string              // default "alice"
	SID           string              // default a random sid per grant; "-" omits it
	ExtraIDClaims map[string]any      // merged into ID tokens
	RequireBasic  bool                // refuse client_secret_post (on by default via New)
	Seen          func(*http.Request) // called for every request
	// NoBackchannelLogout and NoFrontchannelLogout advertise the logout
	// channel as unsupported in discovery (by default both are, as
	// Keycloak does).
	NoBackchannelLogout  bool
	NoFrontchannelLogout bool
	// Refresh tokens: AccessTTL is the access and ID tokens' lifetime
	// (default 5 minutes); RefuseRefresh answers invalid_grant to every
	// refresh (the user signed out or was disabled); RefreshDelay makes a
	// refresh slow; NoRefreshIDToken leaves the ID token out of refresh
	// answers; RefreshIDTokenClaims changes the refreshed ID token's
	// claims; NoRotate keeps refresh tokens instead of rotating them
	// (rotation, the default, refuses a used one like Keycloak's
	// "revoke refresh token"); NoOffline advertises neither offline_access
	// nor the refresh grant; NoRevocation has no revocation endpoint.
	AccessTTL            time.Duration
	RefuseRefresh        bool
	RefreshDelay         time.Duration
	NoRefreshIDToken     bool
	RefreshIDTokenClaims func(map[string]any)
	NoRotate             bool
	NoOffline            bool
	NoRevocation         bool
	// RefuseOffline refuses, at the token endpoint, the code of an
	// authorization that asked for offline_access, as Keycloak does for a
	// user without the offline_access role (users a realm file imports
	// without realmRoles have none): 400 not_allowed "Offline tokens not
	// allowed for the user or client". The code is spent all the same.
	RefuseOffline bool
	// RedirectURIs and PostLogoutRedirectURIs, when set, are the only
	// registered URIs; others are refused as Keycloak does.
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// The client's registration, as Keycloak answers for it:
	// NoStandardFlow sends authorization requests back with
	// unauthorized_client (Keycloak's "Standard flow" off); Scopes, when
	// set, are the only scopes the client may ask for, others are sent
	// back with invalid_scope (Keycloak's client scopes); PublicClient
	// takes token requests without checking the secret (Keycloak's
	// "Client authentication" off).
	NoStandardFlow bool
	Scopes         []string
	PublicClient   bool
	// IssuerFromRequest names the issuer and every endpoint after the
	// address discovery was fetched by, as Keycloak does without
	// KC_HOSTNAME.
	IssuerFromRequest bool
}

// paths are the endpoints' paths below the issuer.
type paths struct {
	authorize, token, userinfo, jwks, endSession, revoke string
}

// Option shapes a Provider at creation.
type Option func(*Provider)

// Keycloak shapes the provider like Keycloak behind docker compose with
// hostname v2 and KC_HOSTNAME_BACKCHANNEL_DYNAMIC: endpoints under
// /realms/{realm}/protocol/openid-connect/; an issuer and authorization
// and logout endpoints on the browser-facing host (localhost), while
// discovery, token, UserInfo and keys are reached on the back-channel
// address (127.0.0.1); the revocation endpoint named at the browser-facing
// host, as Keycloak 26 names it whatever the address discovery was asked
// at; the server-to-server endpoints (token, UserInfo, keys, revocation)
// answering 502 when reached by the browser-facing host, which in compose
// is rp's own container (Count("front:revoke") counts such calls); and
// Keycloak's logout rules: post_logout_redirect_uri
// needs id_token_hint or client_id, a stale or foreign id_token_hint is
// refused, and without id_token_hint a confirmation page is shown instead
// of redirecting. It also answers errors in Keycloak's words: its HTML
// error page ("Client not found.", "Invalid parameter: redirect_uri",
// "Invalid redirect uri"), and unauthorized_client for a known client's
// wrong secret (invalid_client for an unknown client).
func Keycloak(realm string) Option {
	return func(p *Provider) { p.keycloak = realm }
}

type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

type grant struct {
	nonce, challenge, redirectURI, sub, sid string
	scope                                   string // of the authorization request
	used                                    bool
	stale                                   bool // refused, kept until revoked (StaleTokens)
}

// New starts a provider on loopback for tb, closed with tb's cleanup.
func New(tb testing.TB, opts ...Option) *Provider {
	tb.Helper()
	p := &Provider{
		ClientID:     "rp-test",
		ClientSecret: "s3cret with spaces & symbols, 32 or more",
		grants:       make(map[string]grant),
		refresh:      make(map[string]grant),
		counts:       make(map[string]int),
		disabled:     make(map[string]bool),
		now:          time.Now,
		knobs:        Knobs{RequireBasic: true},
	}
	for _, o := range opts {
		o(p)
	}
	p.keys = []signingKey{newKey(tb)}
	prefix := ""
	p.paths = paths{authorize: "/authorize", token: "/token", userinfo: "/userinfo", jwks: "/jwks", endSession: "/end-session", revoke: "/revoke"}
	if p.keycloak != "" {
		prefix = "/realms/" + p.keycloak
		oc := prefix + "/protocol/openid-connect"
		p.paths = paths{authorize: oc + "/auth", token: oc + "/token", userinfo: oc + "/userinfo", jwks: oc + "/certs", endSession: oc + "/logout", revoke: oc + "/revoke"}
	}
	p.srv = httptest.NewServer(p.routes(prefix))
	p.back, p.front = p.srv.URL, p.srv.URL
	if p.keycloak != "" {
		p.front = strings.Replace(p.srv.URL, "127.0.0.1", "localhost", 1)
	}
	p.Issuer = p.front + prefix
	p.DiscoveryURL = p.back + prefix
	tb.Cleanup(p.srv.Close)
	return p
}

func newKey(tb testing.TB) signingKey {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatalf("generating a key: %v", err)
	}
	return signingKey{kid: rand.Text()[:8], priv: k}
}

// Set changes the knobs under the lock.
func (p *Provider) Set(f func(k *Knobs)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.knobs)
}

// Rotate makes a new signing key; the old one stays published when keep.
func (p *Provider) Rotate(tb testing.TB, keep bool) { p.RotateTo(tb, "", keep) }

// RotateTo is Rotate with the new key's kid chosen (random when empty), as
// a provider whose kids can be guessed would name it.
func (p *Provider) RotateTo(tb testing.TB, kid string, keep bool) {
	k := newKey(tb)
	if kid != "" {
		k.kid = kid
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if keep {
		p.keys = append([]signingKey{k}, p.keys...)
	} else {
		p.keys = []signingKey{k}
	}
}

// Count returns how many requests an endpoint ("discovery", "jwks",
// "token", "userinfo", "authorize", "end_session", "revoke") has had;
// "front:revoke" and the like count the calls of a Keycloak-shaped
// provider's server-to-server endpoints by the browser-facing host.
func (p *Provider) Count(endpoint string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[endpoint]
}

// Revoked returns the tokens the revocation endpoint received.
func (p *Provider) Revoked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.revoked)
}

// Scopes returns the scope parameter of each authorization request.
func (p *Provider) Scopes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.scopes)
}

// EndUserSession forgets every refresh token of sub, as a provider does
// when the user signs out there or is disabled: refreshes then fail.
func (p *Provider) EndUserSession(sub string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for rt, g := range p.refresh {
		if g.sub == sub {
			delete(p.refresh, rt)
		}
	}
}

// StaleTokens refuses sub's refresh tokens from now on (invalid_grant) but
// keeps them until they are revoked, as Keycloak keeps an offline session
// after an admin signs the user out: it refuses its tokens as stale, and
// still lists the session until it is revoked or expires.
func (p *Provider) StaleTokens(sub string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for rt, g := range p.refresh {
		if g.sub == sub {
			g.stale = true
			p.refresh[rt] = g
		}
	}
}

// Held returns how many refresh tokens of sub the provider still holds
// (not revoked, not rotated away), stale ones included.
func (p *Provider) Held(sub string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, g := range p.refresh {
		if g.sub == sub {
			n++
		}
	}
	return n
}

// DisableUser does what Keycloak does when an admin disables sub: it sends
// no logout (back-channel or front-channel), keeps the user's sessions,
// and refuses every refresh of them with invalid_grant "User disabled".
// The refused refresh is all a relying party learns.
func (p *Provider) DisableUser(sub string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.disabled[sub] = true
}

// Logouts returns the queries end_session received.
func (p *Provider) Logouts() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]url.Values(nil), p.logouts...)
}

// Close stops the server: the provider goes away entirely.
func (p *Provider) Close() { p.srv.Close() }

// SignedIDToken returns an ID token signed with the current key for the
// given claims, for tests that need one outside a sign-in.
func (p *Provider) SignedIDToken(claims map[string]any) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sign(claims, p.keys[0].priv, p.keys[0].kid, "RS256")
}

func (p *Provider) sign(claims map[string]any, key *rsa.PrivateKey, kid, alg string) string {
	return signJWT(claims, jose.SignatureAlgorithm(alg), key, kid, "JWT")
}

// signJWT signs claims as a compact JWS; key is an *rsa.PrivateKey, or
// []byte for HS*. typ "" leaves the header out.
func signJWT(claims map[string]any, alg jose.SignatureAlgorithm, key any, kid, typ string) string {
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		panic(fmt.Sprintf("testprovider: signer: %v", err))
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(fmt.Sprintf("testprovider: signing: %v", err))
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		panic(fmt.Sprintf("testprovider: serializing: %v", err))
	}
	return s
}

func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
