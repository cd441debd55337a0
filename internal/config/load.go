package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rp-project/rp/internal/origin"
)

// setting describes one RP_* variable and its flag.
type setting struct {
	env   string // RP_CLIENT_ID
	def   string // default, "" when required or optional
	usage string
	set   func(c *Config, v string) error
}

func (s setting) flagName() string { return flagName(s.env) }

func str(dst func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *dst(c) = v; return nil }
}

func dur(dst func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("not a duration like 30s or 8h: %q", v)
		}
		*dst(c) = d
		return nil
	}
}

// settings lists every setting; the README's table mirrors it.
var settings = []setting{
	{"RP_ISSUER", "", "issuer URL, exactly as it appears in tokens (required)", str(func(c *Config) *string { return &c.Issuer })},
	{"RP_DISCOVERY_URL", "", "where rp fetches discovery when it reaches the provider by another address (default: RP_ISSUER); the endpoints rp calls itself, named under RP_ISSUER, are called there too", str(func(c *Config) *string { return &c.DiscoveryURL })},
	{"RP_CLIENT_ID", "", "client id (required)", str(func(c *Config) *string { return &c.ClientID })},
	{"RP_CLIENT_SECRET", "", "client secret (required, or RP_CLIENT_SECRET_FILE)", str(func(c *Config) *string { return &c.ClientSecret })},
	{"RP_BASE_URL", "", "rp's public URL; https makes cookies Secure (required)", str(func(c *Config) *string { return &c.BaseURL })},
	{"RP_ADDR", ":8080", "listen address", str(func(c *Config) *string { return &c.Addr })},
	{"RP_SCOPES", "openid profile email", "scopes, separated by spaces", func(c *Config, v string) error {
		c.Scopes = strings.Fields(strings.ReplaceAll(v, ",", " "))
		return nil
	}},
	{"RP_SESSION_STORE", "sqlite:rp-sessions.db", "session store: sqlite:PATH, memory, redis://HOST:PORT/DB (rediss:// for TLS) or postgres://USER@HOST/DB", str(func(c *Config) *string { return &c.SessionStore })},
	{"RP_SESSION_STORE_PASSWORD", "", "password of a redis:// or postgres:// store when it is not in the URL (or RP_SESSION_STORE_PASSWORD_FILE)", str(func(c *Config) *string { return &c.SessionStorePassword })},
	{"RP_SESSION_STORE_TIMEOUT", "2s", "timeout of every call to the session store", dur(func(c *Config) *time.Duration { return &c.SessionStoreTimeout })},
	{"RP_ID_TOKEN_SIGNING_ALG", "RS256", "the only signing algorithm accepted for ID tokens", str(func(c *Config) *string { return &c.SigningAlg })},
	{"RP_TOKEN_AUTH_METHOD", "client_secret_basic", "client authentication at the token endpoint: client_secret_basic or client_secret_post", str(func(c *Config) *string { return &c.TokenAuthMethod })},
	{"RP_PROVIDER_TIMEOUT", "10s", "timeout of every request to the provider", dur(func(c *Config) *time.Duration { return &c.ProviderTimeout })},
	{"RP_CLOCK_SKEW", "1m", "tolerated clock difference with the provider for exp and iat", dur(func(c *Config) *time.Duration { return &c.ClockSkew })},
	{"RP_SESSION_IDLE_TIMEOUT", "1h", "a session unused for this long ends (0 turns it off)", dur(func(c *Config) *time.Duration { return &c.SessionIdleTimeout })},
	{"RP_SESSION_LIFETIME", "12h", "a session ends this long after sign-in, used or not", dur(func(c *Config) *time.Duration { return &c.SessionLifetime })},
	{"RP_LOG_FORMAT", "text", "log format: text or json", str(func(c *Config) *string { return &c.LogFormat })},
	{"RP_LOG_LEVEL", "info", "log level: debug, info, warn or error", str(func(c *Config) *string { return &c.LogLevel })},
	{"RP_SHUTDOWN_TIMEOUT", "30s", "after SIGTERM, how long requests in flight have to finish before rp cuts them and exits", dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{"RP_SESSION_COOKIE_NAME", "rp_session", "name of the session cookie (https adds the __Host- prefix)", str(func(c *Config) *string { return &c.SessionCookieName })},
	{"RP_COOKIE_SECRET", "", "secret(s) sealing the cookies of sign-ins in flight, at least 32 characters each, separated by spaces; the first seals, all open (default: derived from the client secret; or RP_COOKIE_SECRET_FILE)", func(c *Config, v string) error {
		c.CookieSecrets = strings.Fields(strings.ReplaceAll(v, ",", " "))
		for i, s := range c.CookieSecrets {
			if len(s) < minCookieSecretLen {
				return fmt.Errorf("secret %d of %d is %d characters; each needs at least %d random ones (openssl rand -base64 32)",
					i+1, len(c.CookieSecrets), len(s), minCookieSecretLen)
			}
			if guessable(s) {
				return fmt.Errorf("secret %d of %d does not look random (few different characters, or a piece repeated); make one with: openssl rand -base64 32",
					i+1, len(c.CookieSecrets))
			}
		}
		return nil
	}},
	{"RP_FRONTCHANNEL_LOGOUT", "true", "serve GET /frontchannel-logout (Front-Channel Logout 1.0); set false when the provider sends back-channel logouts", boolean(func(c *Config) *bool { return &c.FrontchannelLogout })},
	{"RP_OFFLINE_ACCESS", "false", "ask for refresh tokens with the offline_access scope when the provider offers it (providers that give refresh tokens only so: oidc-provider, Okta, Auth0, Entra); Keycloak gives them without it, and an offline session outlives Keycloak's sign-outs", boolean(func(c *Config) *bool { return &c.OfflineAccess })},
	{"RP_UPSTREAM", "", "the app rp protects: every request outside rp's routes goes there when signed in (proxy mode)", str(func(c *Config) *string { return &c.Upstream })},
	{"RP_UPSTREAM_TIMEOUT", "60s", "how long the app may take to start its answer before rp answers 504", dur(func(c *Config) *time.Duration { return &c.UpstreamTimeout })},
	{"RP_PATH_PREFIX", "", "prefix of rp's own routes when they clash with the app's, e.g. /_rp", str(func(c *Config) *string { return &c.PathPrefix })},
	{"RP_TRUSTED_PROXIES", "", "CIDRs or addresses of the proxies whose X-Forwarded-* headers rp believes", func(c *Config, v string) error {
		p, err := parseTrusted(v)
		c.TrustedProxies = p
		return err
	}},
	{"RP_PASS_ACCESS_TOKEN", "false", "send the access token to the app as Authorization: Bearer", boolean(func(c *Config) *bool { return &c.PassAccessToken })},
	{"RP_FORWARD_AUTH_SECRET", "", "a secret the forward-auth proxy sends as X-RP-Forward-Auth-Secret, at least 32 random characters, e.g. from openssl rand -base64 32 (or RP_FORWARD_AUTH_SECRET_FILE); without it /auth never sends the access token", str(func(c *Config) *string { return &c.ForwardAuthSecret })},
	{"RP_PASS_CLIENT_HEADERS", "", "other products' identity headers (Remote-User, X-Auth-Request-Email, ...) that reach the app as the client sent them, comma separated (default: rp removes them all)", strList(func(c *Config) *[]string { return &c.PassClientHeaders })},
	{"RP_ALLOWED_GROUPS", "", "groups allowed in, separated by commas (default: anyone signed in)", strList(func(c *Config) *[]string { return &c.AllowedGroups })},
	{"RP_ALLOWED_EMAIL_DOMAINS", "", "email domains allowed in, separated by commas (default: any)", strList(func(c *Config) *[]string { return &c.AllowedEmailDomains })},
	{"RP_PATH_RULES", "", "groups needed below a path, e.g. \"/admin=admins /reports=finance,auditors\"", func(c *Config, v string) error {
		r, err := parsePathRules(v)
		c.PathRules = r
		return err
	}},
	{"RP_GROUPS_CLAIM", "groups", "the claim that holds the user's groups", str(func(c *Config) *string { return &c.GroupsClaim })},
	{"RP_METRICS_ADDR", "", "where /metrics is served: a listen address of its own, e.g. 127.0.0.1:9090, or main for RP_ADDR, where anyone who reaches rp reads it (default: nowhere)", str(func(c *Config) *string { return &c.MetricsAddr })},
	{"RP_BRAND_NAME", "rp", "the name in every page's header and title, e.g. your organisation's", str(func(c *Config) *string { return &c.BrandName })},
	{"RP_BRAND_LOGO", "", "an image file (SVG, PNG, JPEG, GIF or WebP, at most 256 KiB) shown beside the name; read once at start", func(c *Config, v string) error {
		c.BrandLogo = v
		if v == "" {
			return nil
		}
		logo, err := ReadLogo(v)
		if err != nil {
			return err
		}
		c.Logo = &logo
		return nil
	}},
}

func boolean(dst func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("not true or false: %q", v)
		}
		*dst(c) = b
		return nil
	}
}

func strList(dst func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error { *dst(c) = list(v); return nil }
}

// secretFiles maps a secret's setting to the variable naming a file that holds it.
var secretFiles = map[string]string{
	"RP_CLIENT_SECRET":          "RP_CLIENT_SECRET_FILE",
	"RP_SESSION_STORE_PASSWORD": "RP_SESSION_STORE_PASSWORD_FILE",
	"RP_COOKIE_SECRET":          "RP_COOKIE_SECRET_FILE",
	"RP_FORWARD_AUTH_SECRET":    "RP_FORWARD_AUTH_SECRET_FILE",
}

// ErrHelp is returned by Load when -h or -help was asked for; usage has
// been printed.
var ErrHelp = flag.ErrHelp

// Load builds a Config from the environment (getenv) and command-line args
// (flags win over the environment), reads *_FILE secrets and validates the
// result. The error lists every problem found, one per line.
func Load(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	fs := flag.NewFlagSet("rp", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() {
		fmt.Fprint(usage, "Usage: rp [doctor | healthcheck] [flags]\n\n"+
			"  rp              serve\n  rp doctor       check the settings against the live provider\n"+
			"  rp healthcheck  exit 0 when the rp on RP_ADDR is ready\n\n"+
			"Every flag can also be set by the RP_* variable named with it; flags win.\n\n")
		fs.PrintDefaults()
	}
	// Flags start from the built-in defaults, never from the environment:
	// usage text would otherwise print secrets.
	flags := make(map[string]*string, len(settings)+len(secretFiles))
	for _, s := range settings {
		flags[s.env] = fs.String(s.flagName(), s.def, fmt.Sprintf("%s (env %s)", s.usage, s.env))
	}
	for secret, fileEnv := range secretFiles {
		flags[fileEnv] = fs.String(flagName(fileEnv), "", fmt.Sprintf("file holding %s (env %s)", secret, fileEnv))
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	// A flag given on the command line wins; then the environment; then
	// the default.
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	value := func(env string) string {
		if given[flagName(env)] {
			return *flags[env]
		}
		if v := getenv(env); v != "" {
			return v
		}
		return *flags[env]
	}
	values := make(map[string]string, len(flags))
	for env := range flags {
		values[env] = value(env)
	}

	var c Config
	var errs []error
	for secret, fileEnv := range secretFiles {
		path := values[fileEnv]
		if path == "" {
			continue
		}
		if values[secret] != "" {
			errs = append(errs, fmt.Errorf("%s: set either %s or %s, not both", fileEnv, secret, fileEnv))
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: cannot read the secret file: %w", fileEnv, err))
			continue
		}
		values[secret] = strings.TrimRight(string(b), "\r\n")
	}
	unparsed := make(map[string]bool)
	for _, s := range settings {
		if err := s.set(&c, values[s.env]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.env, err))
			unparsed[s.env] = true
		}
	}
	c.BaseURL = origin.Normalize(c.BaseURL)
	if c.DiscoveryURL == "" {
		c.DiscoveryURL = c.Issuer
	}
	if err := c.Validate(); err != nil {
		// A setting that did not parse is reported once, not again with
		// its zero value.
		all := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			all = j.Unwrap()
		}
		for _, e := range all {
			if name, _, _ := strings.Cut(e.Error(), ":"); !unparsed[name] {
				errs = append(errs, e)
			}
		}
	}
	return c, errors.Join(errs...)
}

func flagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "RP_")), "_", "-")
}
