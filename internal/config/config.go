// Package config reads rp's settings from RP_* environment variables and
// command-line flags, and validates them as a whole.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rp-project/rp/internal/maildomain"
)

// Config holds every setting rp runs with. Build it with Load; the zero value
// is not usable.
type Config struct {
	Issuer       string // RP_ISSUER: issuer exactly as it appears in tokens
	DiscoveryURL string // RP_DISCOVERY_URL: where rp fetches discovery; defaults to Issuer
	ClientID     string // RP_CLIENT_ID
	ClientSecret string // RP_CLIENT_SECRET or the content of RP_CLIENT_SECRET_FILE
	BaseURL      string // RP_BASE_URL: rp's public URL, no trailing slash

	Addr         string   // RP_ADDR: listen address
	Scopes       []string // RP_SCOPES: always includes openid
	SessionStore string   // RP_SESSION_STORE: sqlite:PATH, memory, redis://..., postgres://...

	// SessionStorePassword is RP_SESSION_STORE_PASSWORD or the content of
	// RP_SESSION_STORE_PASSWORD_FILE: the Redis or PostgreSQL password when
	// it is not in the URL.
	SessionStorePassword string
	SessionStoreTimeout  time.Duration // RP_SESSION_STORE_TIMEOUT: bound on every store call

	SigningAlg      string        // RP_ID_TOKEN_SIGNING_ALG: the one JWS alg accepted for ID and logout tokens
	TokenAuthMethod string        // RP_TOKEN_AUTH_METHOD: client_secret_basic or client_secret_post
	ProviderTimeout time.Duration // RP_PROVIDER_TIMEOUT: bound on every call to the provider
	ClockSkew       time.Duration // RP_CLOCK_SKEW: tolerated difference with the provider's clock

	SessionIdleTimeout time.Duration // RP_SESSION_IDLE_TIMEOUT: session ends after this long unused
	SessionLifetime    time.Duration // RP_SESSION_LIFETIME: absolute bound from sign-in

	LogFormat string // RP_LOG_FORMAT: text or json
	LogLevel  string // RP_LOG_LEVEL: debug, info, warn, error

	// ShutdownTimeout is RP_SHUTDOWN_TIMEOUT: after SIGTERM, how long rp
	// waits for requests in flight before it cuts them and exits.
	ShutdownTimeout time.Duration

	// SessionCookieName is RP_SESSION_COOKIE_NAME; https adds __Host-.
	SessionCookieName string
	// CookieSecrets are RP_COOKIE_SECRET's (or RP_COOKIE_SECRET_FILE's)
	// secrets, which seal the cookies of sign-ins in flight; empty: derived
	// from the client secret (see SealingSecrets).
	CookieSecrets []string
	OfflineAccess bool // RP_OFFLINE_ACCESS: ask for refresh tokens with offline_access when offered

	// FrontchannelLogout is RP_FRONTCHANNEL_LOGOUT: serve GET
	// /frontchannel-logout. Anyone who knows a session's sid can end it
	// there, so rp whose provider sends back-channel logouts turns it off.
	FrontchannelLogout bool

	// Protecting an app.
	Upstream            string         // RP_UPSTREAM: the app behind rp (proxy mode); "" for none
	UpstreamTimeout     time.Duration  // RP_UPSTREAM_TIMEOUT: the app must start answering within it
	PathPrefix          string         // RP_PATH_PREFIX: prefix of rp's own routes, "" or like /_rp
	TrustedProxies      []netip.Prefix // RP_TRUSTED_PROXIES: whose X-Forwarded-* headers rp believes
	PassAccessToken     bool           // RP_PASS_ACCESS_TOKEN: Authorization: Bearer to the app
	ForwardAuthSecret   string         // RP_FORWARD_AUTH_SECRET(_FILE): the proxy's proof that an /auth request is its own
	PassClientHeaders   []string       // RP_PASS_CLIENT_HEADERS: other products' identity headers the client may send the app
	AllowedGroups       []string       // RP_ALLOWED_GROUPS: one of them is needed
	AllowedEmailDomains []string       // RP_ALLOWED_EMAIL_DOMAINS: the email's domain is one of them
	PathRules           []PathRule     // RP_PATH_RULES: groups needed below a path
	GroupsClaim         string         // RP_GROUPS_CLAIM: the claim holding the groups

	// MetricsAddr is RP_METRICS_ADDR: where GET /metrics is served. ""
	// serves it nowhere, MetricsOnMain ("main") on RP_ADDR among rp's
	// routes, anything else is a listen address of its own.
	MetricsAddr string

	// Branding of rp's pages.
	BrandName string // RP_BRAND_NAME: shown in every page's header and title
	BrandLogo string // RP_BRAND_LOGO: path of an image file shown beside the name; "" for none
	// Logo is BrandLogo's file, read and checked by Load; nil without one.
	Logo *Logo
}

// minCookieSecretLen is the shortest RP_COOKIE_SECRET accepted.
const minCookieSecretLen = 32

// SealingSecrets are the secrets that seal the cookies rp gives browsers
// before sign-in and after sign-out: RP_COOKIE_SECRET's, or else the
// client secret, which every instance of one deployment shares already
// (rp stretches it, then derives a key of its own from it). weak is true
// when that client secret is short or looks typed rather than random: a
// sealed cookie, which anyone can get from /login, would then let them
// guess it offline, slowed down only by the stretching.
func (c Config) SealingSecrets() (secrets []string, weak bool) {
	if len(c.CookieSecrets) > 0 {
		return c.CookieSecrets, false
	}
	return []string{c.ClientSecret}, len(c.ClientSecret) < minCookieSecretLen || guessable(c.ClientSecret)
}

// SealingContext names this deployment in the keys of sealed cookies, so
// that a deployment sharing a secret with another cannot open its cookies.
// Every instance of one deployment has the same.
func (c Config) SealingContext() string {
	return "client_id=" + c.ClientID + " issuer=" + c.Issuer + " rp=" + c.BaseURL + c.PathPrefix
}

// PathRule says that the paths at and below Prefix need one of Groups.
type PathRule struct {
	Prefix string
	Groups []string
}

// MetricsOnMain is the RP_METRICS_ADDR that serves /metrics on the main
// listener (RP_ADDR), where anyone who reaches rp can read it.
const MetricsOnMain = "main"

// MetricsListener is the address of /metrics' own listener, or "" when
// metrics are off or on the main listener.
func (c Config) MetricsListener() string {
	if c.MetricsAddr == MetricsOnMain {
		return ""
	}
	return c.MetricsAddr
}

// Route is path on rp's public URL, under the prefix: Route("/callback").
func (c Config) Route(path string) string { return c.BaseURL + c.PathPrefix + path }

// RedirectURL is the redirect_uri registered at the provider.
func (c Config) RedirectURL() string { return c.Route("/callback") }

// PostLogoutRedirectURL is the post_logout_redirect_uri registered at the provider.
func (c Config) PostLogoutRedirectURL() string { return c.Route("/logged-out") }

// BackchannelLogoutURL is the back-channel logout URI to register.
func (c Config) BackchannelLogoutURL() string { return c.Route("/backchannel-logout") }

// FrontchannelLogoutURL is the front-channel logout URI to register.
func (c Config) FrontchannelLogoutURL() string { return c.Route("/frontchannel-logout") }

// SecureCookies reports whether cookies must carry the Secure attribute.
func (c Config) SecureCookies() bool { return strings.HasPrefix(c.BaseURL, "https://") }

// MaxProviderTimeout bounds RP_PROVIDER_TIMEOUT: a sign-in makes up to
// three provider calls in one browser request, which must still end with a
// page rather than a cut connection.
const MaxProviderTimeout = 30 * time.Second

// MaxStoreTimeout bounds RP_SESSION_STORE_TIMEOUT: a request may make a few
// store calls, and a store that does not answer must give an error page
// rather than a hung browser.
const MaxStoreTimeout = 10 * time.Second

// Supported values of the enumerated settings.
var (
	signingAlgs      = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	tokenAuthMethods = []string{"client_secret_basic", "client_secret_post"}
	logFormats       = []string{"text", "json"}
	logLevels        = []string{"debug", "info", "warn", "error"}
)

// Validate checks every setting and reports all problems at once, each
// naming the setting and what is wrong with it.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}

	if c.Issuer == "" {
		bad("RP_ISSUER", "required: the provider's issuer URL, e.g. https://sso.example.com/realms/main")
	} else if err := checkHTTPURL(c.Issuer, true); err != nil {
		bad("RP_ISSUER", "%v", err)
	}
	if c.DiscoveryURL != "" && c.DiscoveryURL != c.Issuer {
		if err := checkHTTPURL(c.DiscoveryURL, true); err != nil {
			bad("RP_DISCOVERY_URL", "%v", err)
		}
	}
	if c.ClientID == "" {
		bad("RP_CLIENT_ID", "required: the client id registered at the provider")
	}
	if c.ClientSecret == "" {
		bad("RP_CLIENT_SECRET", "required (or RP_CLIENT_SECRET_FILE): the client secret registered at the provider")
	}
	if c.BaseURL == "" {
		bad("RP_BASE_URL", "required: rp's public URL, e.g. https://app.example.com")
	} else if err := checkBaseURL(c.BaseURL); err != nil {
		bad("RP_BASE_URL", "%v", err)
	}
	if c.Addr == "" {
		bad("RP_ADDR", "must not be empty, e.g. :8080")
	}
	if !slices.Contains(c.Scopes, "openid") {
		bad("RP_SCOPES", "must include openid, got %q", strings.Join(c.Scopes, " "))
	}
	if err := checkSessionStore(c.SessionStore); err != nil {
		bad("RP_SESSION_STORE", "%v", err)
	} else if c.SessionStorePassword != "" {
		if !isNetworkStore(c.SessionStore) {
			bad("RP_SESSION_STORE_PASSWORD", "is only used with redis:// and postgres:// stores, but RP_SESSION_STORE is %q", c.SessionStore)
		} else if storeURLHasPassword(c.SessionStore) {
			bad("RP_SESSION_STORE_PASSWORD", "set the password either in RP_SESSION_STORE or in RP_SESSION_STORE_PASSWORD(_FILE), not both")
		}
	}
	if c.SessionStoreTimeout <= 0 || c.SessionStoreTimeout > MaxStoreTimeout {
		bad("RP_SESSION_STORE_TIMEOUT", "must be between 1ms and %s, got %s", MaxStoreTimeout, c.SessionStoreTimeout)
	}
	if !slices.Contains(signingAlgs, c.SigningAlg) {
		bad("RP_ID_TOKEN_SIGNING_ALG", "%q is not one of %s (HS* and none are refused)", c.SigningAlg, strings.Join(signingAlgs, ", "))
	}
	if !slices.Contains(tokenAuthMethods, c.TokenAuthMethod) {
		bad("RP_TOKEN_AUTH_METHOD", "%q is not one of %s", c.TokenAuthMethod, strings.Join(tokenAuthMethods, ", "))
	}
	if c.ProviderTimeout <= 0 || c.ProviderTimeout > MaxProviderTimeout {
		bad("RP_PROVIDER_TIMEOUT", "must be between 1ms and %s, got %s", MaxProviderTimeout, c.ProviderTimeout)
	}
	if c.ClockSkew < 0 || c.ClockSkew > 10*time.Minute {
		bad("RP_CLOCK_SKEW", "must be between 0 and 10m, got %s", c.ClockSkew)
	}
	if c.SessionLifetime <= 0 {
		bad("RP_SESSION_LIFETIME", "must be positive, got %s", c.SessionLifetime)
	}
	if c.SessionIdleTimeout < 0 {
		bad("RP_SESSION_IDLE_TIMEOUT", "must be 0 (off) or positive, got %s", c.SessionIdleTimeout)
	} else if c.SessionLifetime > 0 && c.SessionIdleTimeout > c.SessionLifetime {
		bad("RP_SESSION_IDLE_TIMEOUT", "%s is longer than RP_SESSION_LIFETIME %s", c.SessionIdleTimeout, c.SessionLifetime)
	}
	if !slices.Contains(logFormats, c.LogFormat) {
		bad("RP_LOG_FORMAT", "%q is not one of %s", c.LogFormat, strings.Join(logFormats, ", "))
	}
	if !slices.Contains(logLevels, c.LogLevel) {
		bad("RP_LOG_LEVEL", "%q is not one of %s", c.LogLevel, strings.Join(logLevels, ", "))
	}
	if c.ShutdownTimeout <= 0 {
		bad("RP_SHUTDOWN_TIMEOUT", "must be positive, got %s", c.ShutdownTimeout)
	}
	if !cookieName.MatchString(c.SessionCookieName) || strings.HasPrefix(strings.ToLower(c.SessionCookieName), "__") {
		bad("RP_SESSION_COOKIE_NAME", "%q must be letters, digits, - and _ (at most 64, no leading __: rp adds __Host- itself over https)", c.SessionCookieName)
	}
	if c.Upstream != "" {
		if err := checkHTTPURL(c.Upstream, true); err != nil {
			bad("RP_UPSTREAM", "%v", err)
		}
	}
	if c.UpstreamTimeout <= 0 {
		bad("RP_UPSTREAM_TIMEOUT", "must be positive, got %s", c.UpstreamTimeout)
	}
	if c.ForwardAuthSecret != "" {
		if err := checkForwardAuthSecret(c.ForwardAuthSecret); err != nil {
			bad("RP_FORWARD_AUTH_SECRET", "%v", err)
		}
	}
	if c.MetricsAddr != "" && c.MetricsAddr != MetricsOnMain {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("RP_METRICS_ADDR", "%q is neither main nor a listen address like :9090 or 127.0.0.1:9090", c.MetricsAddr)
		} else if c.MetricsAddr == c.Addr {
			bad("RP_METRICS_ADDR", "is RP_ADDR; set RP_METRICS_ADDR=main to serve /metrics there")
		}
	}
	// Whether each name is one rp removes is proxy.CheckPassClientHeaders'
	// to say: the list is the proxy's.
	if len(c.PassClientHeaders) > 0 && c.Upstream == "" {
		bad("RP_PASS_CLIENT_HEADERS", "is only used in proxy mode (RP_UPSTREAM); with forward auth the proxy decides which headers reach the app")
	}
	if err := checkPathPrefix(c.PathPrefix); err != nil {
		bad("RP_PATH_PREFIX", "%v", err)
	}
	if !claimName.MatchString(c.GroupsClaim) {
		bad("RP_GROUPS_CLAIM", "%q is not a claim name", c.GroupsClaim)
	}
	if err := checkBrandName(c.BrandName); err != nil {
		bad("RP_BRAND_NAME", "%v", err)
	}
	if c.BrandLogo != "" && c.Logo == nil {
		bad("RP_BRAND_LOGO", "%s was not read (config.Load reads it)", c.BrandLogo)
	}
	for _, d := range c.AllowedEmailDomains {
		if err := checkEmailDomain(d); err != nil {
			bad("RP_ALLOWED_EMAIL_DOMAINS", "%v", err)
		}
	}
	for _, r := range c.PathRules {
		if r.Prefix == c.PathPrefix || (c.PathPrefix != "" && strings.HasPrefix(r.Prefix, c.PathPrefix+"/")) {
			bad("RP_PATH_RULES", "%q is rp's own prefix RP_PATH_PREFIX, not the app's", r.Prefix)
		}
	}
	return errors.Join(errs...)
}

var (
	cookieName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	claimName  = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,128}$`)
	// prefixChars are the characters of an RP_PATH_PREFIX: unreserved
	// ones, so that the prefix reads the same encoded or not.
	prefixChars = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)
)

// checkEmailDomain accepts a domain name as written, with or without a
// leading "@": rp compares email domains without Unicode mapping (see
// maildomain), so a domain that only mapping would make one could never
// match, and the error says what mapping would give.
func checkEmailDomain(d string) error {
	d = strings.TrimPrefix(d, "@")
	_, err := maildomain.Canonical(d)
	if err == nil {
		return nil
	}
	if m := maildomain.Mapped(d); m != "" {
		return fmt.Errorf("%w; write %q, as email domains are compared as written", err, m)
	}
	return err
}

// checkPathPrefix accepts "" or a path like /_rp: no trailing slash, no
// dot segments, nothing that needs encoding.
func checkPathPrefix(p string) error {
	if p == "" {
		return nil
	}
	if !prefixChars.MatchString(p) {
		return fmt.Errorf("%q must look like /_rp: a path of letters, digits and . _ ~ -, starting with / and not ending with one", p)
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%q must not have . or .. segments", p)
		}
	}
	return nil
}

// parseTrusted reads RP_TRUSTED_PROXIES: CIDRs or single addresses,
// separated by commas or spaces.
func parseTrusted(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range list(v) {
		if p, err := netip.ParsePrefix(f); err == nil {
			if p != p.Masked() {
				return nil, fmt.Errorf("%q has host bits set; did you mean %s?", f, p.Masked())
			}
			out = append(out, p)
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR like 10.0.0.0/8 nor an address", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// parsePathRules reads RP_PATH_RULES: "/admin=admins /reports=finance,auditors".
func parsePathRules(v string) ([]PathRule, error) {
	var out []PathRule
	seen := make(map[string]bool)
	for _, f := range strings.Fields(v) {
		prefix, groups, ok := strings.Cut(f, "=")
		gs := list(groups)
		if !ok || len(gs) == 0 {
			return nil, fmt.Errorf("%q must be PATH=GROUP[,GROUP...], e.g. /admin=admins", f)
		}
		prefix = strings.TrimRight(prefix, "/")
		if prefix == "" {
			prefix = "/"
		}
		if !strings.HasPrefix(prefix, "/") || strings.ContainsAny(prefix, "?#%\\") {
			return nil, fmt.Errorf("%q: the path must start with / and hold no ?, #, %% or \\", f)
		}
		for _, seg := range strings.Split(prefix, "/") {
			if seg == "." || seg == ".." {
				return nil, fmt.Errorf("%q: the path must not have . or .. segments", f)
			}
		}
		if seen[prefix] {
			return nil, fmt.Errorf("%q: %s has a rule already", f, prefix)
		}
		seen[prefix] = true
		out = append(out, PathRule{Prefix: prefix, Groups: gs})
	}
	return out, nil
}

// list splits a setting on commas and white space.
func list(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

func checkHTTPURL(raw string, allowPath bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	shown := u.Redacted()
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("must be an http or https URL, got %q", shown)
	}
	if u.Host == "" {
		return fmt.Errorf("has no host: %q", shown)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("must not carry credentials, a query or a fragment: %q", shown)
	}
	if !allowPath && u.Path != "" {
		return fmt.Errorf("must not have a path: %q", shown)
	}
	return nil
}

func checkBaseURL(raw string) error {
	if err := checkHTTPURL(raw, false); err != nil {
		if u, perr := url.Parse(raw); perr == nil && u.Path != "" && u.User == nil {
			return fmt.Errorf("must be an origin without a path, got %q (to move rp's routes under a path, set RP_PATH_PREFIX)", raw)
		}
		return err
	}
	return nil
}

func checkSessionStore(s string) error {
	switch {
	case s == "memory":
		return nil
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(s, "sqlite:")
		if path == "" {
			return errors.New(`"sqlite:" needs a file path, e.g. sqlite:/var/lib/rp/sessions.db`)
		}
		if strings.ContainsAny(path, "?#") {
			return fmt.Errorf("the file path %q must not contain ? or #", path)
		}
		return nil
	case isNetworkStore(s):
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Errorf("%q is not a URL", redactStore(s))
		}
		if u.Fragment != "" {
			return fmt.Errorf("%q must not have a fragment", redactStore(s))
		}
		if u.Host == "" && (u.Scheme == "redis" || u.Scheme == "rediss" || u.Query().Get("host") == "") {
			return fmt.Errorf("%q has no host, e.g. %s://store.internal:%s/...", redactStore(s), u.Scheme, map[bool]string{true: "6379", false: "5432"}[strings.HasPrefix(u.Scheme, "redis")])
		}
		return nil
	default:
		return fmt.Errorf("%q is not one of sqlite:PATH, memory, redis://..., rediss://..., postgres://...", redactStore(s))
	}
}

// isNetworkStore reports whether s names a Redis or PostgreSQL store.
func isNetworkStore(s string) bool {
	for _, scheme := range []string{"redis://", "rediss://", "postgres://", "postgresql://"} {
		if strings.HasPrefix(s, scheme) {
			return true
		}
	}
	return false
}

// storeURLHasPassword reports whether a store URL carries a password, in
// its user information or (PostgreSQL) as a password parameter.
func storeURLHasPassword(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	_, inUser := u.User.Password()
	return inUser || u.Query().Has("password")
}

// redactStore keeps passwords of store URLs out of error messages: in the
// user information and in a password parameter.
func redactStore(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
