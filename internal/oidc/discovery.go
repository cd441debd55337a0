package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Discovery is the part of the provider's metadata rp uses.
type Discovery struct {
	Issuer                     string   `json:"issuer"`
	AuthorizationEndpoint      string   `json:"authorization_endpoint"`
	TokenEndpoint              string   `json:"token_endpoint"`
	UserInfoEndpoint           string   `json:"userinfo_endpoint"`
	JWKSURI                    string   `json:"jwks_uri"`
	EndSessionEndpoint         string   `json:"end_session_endpoint"`
	IssParameterSupported      bool     `json:"authorization_response_iss_parameter_supported"`
	CodeChallengeMethods       []string `json:"code_challenge_methods_supported"`
	IDTokenSigningAlgs         []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	BackchannelLogoutSupported bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSession   bool     `json:"backchannel_logout_session_supported"`
	FrontchannelLogout         bool     `json:"frontchannel_logout_supported"`
	RevocationEndpoint         string   `json:"revocation_endpoint"`
	ScopesSupported            []string `json:"scopes_supported"`
	GrantTypesSupported        []string `json:"grant_types_supported"`
}

// OfflineAccess reports whether the provider offers refresh tokens through
// the offline_access scope: it lists the scope and the refresh_token grant
// (RFC 8414: without grant_types_supported, it offers none).
func (d Discovery) OfflineAccess() bool {
	return slices.Contains(d.ScopesSupported, "offline_access") && slices.Contains(d.GrantTypesSupported, "refresh_token")
}

// RequestScopes are the scopes rp's authorization requests ask for: the
// configured ones, plus offline_access when offlineAccess (RP_OFFLINE_ACCESS)
// and the provider offers it.
func (d Discovery) RequestScopes(configured []string, offlineAccess bool) []string {
	if offlineAccess && !slices.Contains(configured, "offline_access") && d.OfflineAccess() {
		return append(slices.Clip(configured), "offline_access")
	}
	return configured
}

// metadata is everything built from a successful discovery.
type metadata struct {
	doc        Discovery
	provider   *gooidc.Provider
	oauth2     oauth2.Config
	verifier   *gooidc.IDTokenVerifier // ID and logout tokens
	keys       *keySet                 // the verifier's keys: logout tokens are verified with them first
	endSession string
	issParam   bool
	offline    bool // the authorization request asks for offline_access
	// offlineAdded: rp added offline_access (Settings.OfflineAccess); it
	// was not among Settings.Scopes.
	offlineAdded bool
}

func (c *Client) discover(ctx context.Context) (*metadata, error) {
	// go-oidc compares the discovered issuer with the URL it fetched from;
	// rp may fetch from another address (RP_DISCOVERY_URL), so it names the
	// expected issuer here and makes the exact comparison itself below.
	dctx := gooidc.InsecureIssuerURLContext(gooidc.ClientContext(ctx, c.http), c.s.Issuer)
	p, err := gooidc.NewProvider(dctx, c.s.DiscoveryURL)
	if err != nil {
		if ctx.Err() != nil {
			return nil, unavailable("discovery", ctx.Err())
		}
		return nil, fmt.Errorf("oidc: discovery at %s: %s", c.s.DiscoveryURL, brief(err))
	}
	var doc Discovery
	if err := p.Claims(&doc); err != nil {
		return nil, fmt.Errorf("oidc: decoding discovery: %w", err)
	}
	if err := c.checkDiscovery(doc); err != nil {
		return nil, err
	}
	if c.s.DiscoveryURL != c.s.Issuer {
		// rp's own calls go where rp reaches the provider. Keycloak 26
		// names its revocation endpoint at the browsers' address even when
		// KC_HOSTNAME_BACKCHANNEL_DYNAMIC names the others at the address
		// asked; in compose that address is rp's own container.
		doc.TokenEndpoint = c.fromHere(doc.TokenEndpoint)
		doc.UserInfoEndpoint = c.fromHere(doc.UserInfoEndpoint)
		doc.JWKSURI = c.fromHere(doc.JWKSURI)
		doc.RevocationEndpoint = c.fromHere(doc.RevocationEndpoint)
		p = (&gooidc.ProviderConfig{IssuerURL: doc.Issuer, AuthURL: doc.AuthorizationEndpoint, TokenURL: doc.TokenEndpoint,
			UserInfoURL: doc.UserInfoEndpoint, JWKSURL: doc.JWKSURI}).NewProvider(dctx)
	}

	// rp's own key set, not go-oidc's remote one: that one fetches again
	// on every unknown kid and every bad signature, whatever the cause,
	// so forged tokens could starve real ones (see keySet).
	keys := newKeySet(doc.JWKSURI, c.s.SigningAlg, c.http, c.s.Now, c.s.JWKSRefreshEvery, c.s.JWKSRefreshBurst, c.log)
	verifier := gooidc.NewVerifier(c.s.Issuer, verifiedKeySet{keys: keys}, &gooidc.Config{
		ClientID:             c.s.ClientID,
		SupportedSigningAlgs: []string{c.s.SigningAlg},
		// exp is checked with the configured leeway for clock skew.
		Now: func() time.Time { return c.s.Now().Add(-c.s.ClockSkew) },
	})

	style := oauth2.AuthStyleInHeader
	if c.s.AuthInParams {
		style = oauth2.AuthStyleInParams
	}
	scopes := doc.RequestScopes(c.s.Scopes, c.s.OfflineAccess)
	offline := slices.Contains(scopes, "offline_access")
	// offlineAdded: rp itself asked for offline_access (the admin did not
	// list it in RP_SCOPES), so a sign-in may retry without it.
	offlineAdded := offline && !slices.Contains(c.s.Scopes, "offline_access")
	for name, v := range map[string]string{"revocation_endpoint": doc.RevocationEndpoint} {
		if v != "" {
			if err := checkEndpoint(v); err != nil {
				return nil, fmt.Errorf("oidc: discovery %s: %w", name, err)
			}
		}
	}
	return &metadata{
		doc:      doc,
		provider: p,
		oauth2: oauth2.Config{
			ClientID:     c.s.ClientID,
			ClientSecret: c.s.ClientSecret,
			RedirectURL:  c.s.RedirectURL,
			Scopes:       scopes,
			Endpoint: oauth2.Endpoint{
				AuthURL:   doc.AuthorizationEndpoint,
				TokenURL:  doc.TokenEndpoint,
				AuthStyle: style,
			},
		},
		verifier:   verifier,
		keys:       keys,
		endSession: doc.EndSessionEndpoint,
		issParam:   doc.IssParameterSupported,
		offline:    offline,

		offlineAdded: offlineAdded,
	}, nil
}

// fromHere is where rp itself calls endpoint u of the provider: when rp
// reaches the provider by another address than browsers (RP_DISCOVERY_URL),
// an endpoint under the issuer, the browsers' address, is called under
// the discovery URL instead. Endpoints elsewhere are called as named.
func (c *Client) fromHere(u string) string { return FromHere(c.s.Issuer, c.s.DiscoveryURL, u) }

// FromHere is endpoint u as called at discoveryURL's address when it is
// named under issuer: the same path below the issuer, under the discovery
// URL. Anything else (another host, or a path that merely starts with the
// issuer's, such as /realms/demo2 under /realms/demo) is returned as is.
func FromHere(issuer, discoveryURL, u string) string {
	if discoveryURL == "" || discoveryURL == issuer {
		return u
	}
	rest, ok := strings.CutPrefix(u, strings.TrimSuffix(issuer, "/"))
	if !ok || (rest != "" && rest[0] != '/' && rest[0] != '?') {
		return u
	}
	return strings.TrimSuffix(discoveryURL, "/") + rest
}

// checkDiscovery refuses metadata rp cannot work with safely, and warns
// about what merely looks wrong.
func (c *Client) checkDiscovery(doc Discovery) error {
	if doc.Issuer != c.s.Issuer {
		return fmt.Errorf("oidc: discovery at %s names issuer %q, but RP_ISSUER is %q: they must be equal, character for character", c.s.DiscoveryURL, doc.Issuer, c.s.Issuer)
	}
	var bad []error
	for name, v := range map[string]string{
		"authorization_endpoint": doc.AuthorizationEndpoint,
		"token_endpoint":         doc.TokenEndpoint,
		"jwks_uri":               doc.JWKSURI,
		"userinfo_endpoint":      doc.UserInfoEndpoint,
		"end_session_endpoint":   doc.EndSessionEndpoint,
	} {
		optional := name == "userinfo_endpoint" || name == "end_session_endpoint"
		if v == "" && optional {
			continue
		}
		if err := checkEndpoint(v); err != nil {
			bad = append(bad, fmt.Errorf("oidc: discovery %s: %w", name, err))
		}
	}
	if err := errors.Join(bad...); err != nil {
		return err
	}
	if len(doc.CodeChallengeMethods) > 0 && !slices.Contains(doc.CodeChallengeMethods, "S256") {
		c.log.Warn("provider does not advertise PKCE S256; rp sends it anyway", "code_challenge_methods_supported", doc.CodeChallengeMethods)
	}
	if len(doc.IDTokenSigningAlgs) > 0 && !slices.Contains(doc.IDTokenSigningAlgs, c.s.SigningAlg) {
		c.log.Warn("provider does not advertise the configured ID token signing algorithm", "alg", c.s.SigningAlg, "advertised", doc.IDTokenSigningAlgs)
	}
	if doc.EndSessionEndpoint == "" {
		c.log.Warn("provider has no end_session_endpoint: logout will end rp's session only")
	}
	return nil
}

// Metadata returns the discovered metadata, or an error wrapping
// ErrNotReady.
func (c *Client) Metadata() (Discovery, error) {
	m, err := c.metadata()
	if err != nil {
		return Discovery{}, err
	}
	return m.doc, nil
}

// checkEndpoint accepts absolute http(s) URLs without credentials or
// fragment: browsers are sent to some of them.
func checkEndpoint(raw string) error {
	if raw == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	return nil
}
