package config

import (
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestProtectingAnAppDefaults(t *testing.T) {
	c, err := Load(nil, env(valid()), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Upstream != "" || c.PathPrefix != "" || len(c.TrustedProxies) != 0 || c.PassAccessToken ||
		len(c.AllowedGroups) != 0 || len(c.AllowedEmailDomains) != 0 || len(c.PathRules) != 0 ||
		c.GroupsClaim != "groups" || c.OfflineAccess || c.UpstreamTimeout != 60*time.Second || c.SessionCookieName != "rp_session" ||
		len(c.PassClientHeaders) != 0 || c.MetricsAddr != "" || c.MetricsListener() != "" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestProtectingAnAppSettings(t *testing.T) {
	e := valid()
	e["RP_UPSTREAM"] = "http://app:3000/base"
	e["RP_PATH_PREFIX"] = "/_rp"
	e["RP_TRUSTED_PROXIES"] = "10.0.0.0/8, 192.168.1.7 ::1 ::ffff:172.16.0.1"
	e["RP_PASS_ACCESS_TOKEN"] = "true"
	e["RP_ALLOWED_GROUPS"] = "staff, admins"
	e["RP_ALLOWED_EMAIL_DOMAINS"] = "example.com,corp.example"
	e["RP_PATH_RULES"] = "/admin=admins /reports/=finance,auditors"
	e["RP_OFFLINE_ACCESS"] = "false"
	e["RP_PASS_CLIENT_HEADERS"] = "Cf-Access-Jwt-Assertion, x_goog_iap_jwt_assertion"
	c, err := Load(nil, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RedirectURL() != "https://app.example.com/_rp/callback" || c.PostLogoutRedirectURL() != "https://app.example.com/_rp/logged-out" ||
		c.BackchannelLogoutURL() != "https://app.example.com/_rp/backchannel-logout" ||
		c.FrontchannelLogoutURL() != "https://app.example.com/_rp/frontchannel-logout" {
		t.Errorf("URIs do not follow the prefix: %s %s", c.RedirectURL(), c.PostLogoutRedirectURL())
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("172.16.0.1/32")}
	if !slices.Equal(c.TrustedProxies, want) {
		t.Errorf("trusted proxies %v, want %v", c.TrustedProxies, want)
	}
	if !c.PassAccessToken || c.OfflineAccess || !slices.Equal(c.AllowedGroups, []string{"staff", "admins"}) ||
		!slices.Equal(c.AllowedEmailDomains, []string{"example.com", "corp.example"}) {
		t.Errorf("settings: %+v", c)
	}
	if len(c.PathRules) != 2 || c.PathRules[0].Prefix != "/admin" || c.PathRules[1].Prefix != "/reports" ||
		!slices.Equal(c.PathRules[1].Groups, []string{"finance", "auditors"}) {
		t.Errorf("path rules: %+v", c.PathRules)
	}
	if !slices.Equal(c.PassClientHeaders, []string{"Cf-Access-Jwt-Assertion", "x_goog_iap_jwt_assertion"}) {
		t.Errorf("pass client headers: %q", c.PassClientHeaders)
	}
}

// TestMetricsAddr: metrics are off unless RP_METRICS_ADDR says where;
// main is the main listener, anything else a listener of its own.
func TestMetricsAddr(t *testing.T) {
	for v, want := range map[string]string{"": "", "main": "", "127.0.0.1:9090": "127.0.0.1:9090", ":9090": ":9090"} {
		e := valid()
		e["RP_METRICS_ADDR"] = v
		c, err := Load(nil, env(e), io.Discard)
		if err != nil {
			t.Fatalf("RP_METRICS_ADDR=%q: %v", v, err)
		}
		if c.MetricsAddr != v || c.MetricsListener() != want {
			t.Errorf("RP_METRICS_ADDR=%q: MetricsAddr %q, MetricsListener %q, want %q", v, c.MetricsAddr, c.MetricsListener(), want)
		}
	}
}

func TestProtectingAnAppBadSettings(t *testing.T) {
	for name, tc := range map[string]struct{ k, v, want string }{
		"upstream scheme":     {"RP_UPSTREAM", "ftp://app", "RP_UPSTREAM"},
		"upstream user":       {"RP_UPSTREAM", "http://u:p@app", "RP_UPSTREAM"},
		"upstream query":      {"RP_UPSTREAM", "http://app/?a=1", "RP_UPSTREAM"},
		"prefix slash":        {"RP_PATH_PREFIX", "/_rp/", "RP_PATH_PREFIX"},
		"prefix relative":     {"RP_PATH_PREFIX", "_rp", "RP_PATH_PREFIX"},
		"prefix dots":         {"RP_PATH_PREFIX", "/a/../b", "RP_PATH_PREFIX"},
		"prefix encoded":      {"RP_PATH_PREFIX", "/a%2Fb", "RP_PATH_PREFIX"},
		"prefix root":         {"RP_PATH_PREFIX", "/", "RP_PATH_PREFIX"},
		"trusted junk":        {"RP_TRUSTED_PROXIES", "10.0.0.0/8, nope", "nope"},
		"trusted host bits":   {"RP_TRUSTED_PROXIES", "10.1.2.3/8", "10.0.0.0/8"},
		"pass token":          {"RP_PASS_ACCESS_TOKEN", "yes please", "RP_PASS_ACCESS_TOKEN"},
		"offline":             {"RP_OFFLINE_ACCESS", "maybe", "RP_OFFLINE_ACCESS"},
		"rule without groups": {"RP_PATH_RULES", "/admin=", "PATH=GROUP"},
		"rule without =":      {"RP_PATH_RULES", "/admin", "PATH=GROUP"},
		"rule relative":       {"RP_PATH_RULES", "admin=admins", "must start with /"},
		"rule dots":           {"RP_PATH_RULES", "/a/../admin=admins", ". or .."},
		"rule twice":          {"RP_PATH_RULES", "/admin=a /admin/=b", "has a rule already"},
		"cookie name":         {"RP_SESSION_COOKIE_NAME", "rp session", "RP_SESSION_COOKIE_NAME"},
		"cookie prefix":       {"RP_SESSION_COOKIE_NAME", "__Host-rp", "RP_SESSION_COOKIE_NAME"},
		"upstream timeout":    {"RP_UPSTREAM_TIMEOUT", "0s", "RP_UPSTREAM_TIMEOUT"},
		"groups claim":        {"RP_GROUPS_CLAIM", "", "RP_GROUPS_CLAIM"},
		"metrics addr":        {"RP_METRICS_ADDR", "9090", "RP_METRICS_ADDR"},
		"metrics on main":     {"RP_METRICS_ADDR", ":8080", "RP_METRICS_ADDR=main"},
		"metrics main spelt":  {"RP_METRICS_ADDR", "MAIN", "RP_METRICS_ADDR"},
		"pass without app":    {"RP_PASS_CLIENT_HEADERS", "Remote-User", "only used in proxy mode"},
	} {
		t.Run(name, func(t *testing.T) {
			e := valid()
			e[tc.k] = tc.v
			if tc.k == "RP_GROUPS_CLAIM" {
				_, err := Load([]string{"-groups-claim", ""}, env(e), io.Discard)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%s=%q: %v", tc.k, tc.v, err)
				}
				return
			}
			_, err := Load(nil, env(e), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s=%q: error %v, want one mentioning %q", tc.k, tc.v, err, tc.want)
			}
		})
	}
	// A rule on rp's own prefix is a mistake.
	e := valid()
	e["RP_PATH_PREFIX"], e["RP_PATH_RULES"] = "/_rp", "/_rp/profile=admins"
	if _, err := Load(nil, env(e), io.Discard); err == nil || !strings.Contains(err.Error(), "rp's own prefix") {
		t.Fatalf("a rule under rp's prefix: %v", err)
	}
	// A base URL with a path points at RP_PATH_PREFIX.
	e = valid()
	e["RP_BASE_URL"] = "https://app.example.com/_rp"
	if _, err := Load(nil, env(e), io.Discard); err == nil || !strings.Contains(err.Error(), "RP_PATH_PREFIX") {
		t.Fatalf("a base URL with a path: %v", err)
	}
}

// TestAllowedEmailDomainsAreDomainNames: each RP_ALLOWED_EMAIL_DOMAINS entry
// must be a domain name as written (ASCII letter case aside), as rp compares
// the email's domain with it; a look-alike that only Unicode mapping turns
// into a domain (the Kelvin sign for K, the long s for s) is an error that
// names the setting and the domain the mapping would give.
func TestAllowedEmailDomainsAreDomainNames(t *testing.T) {
	for _, v := range []string{"example.com, @corp.example, Example.ORG", "bücher.example", "xn--bcher-kva.example"} {
		e := valid()
		e["RP_ALLOWED_EMAIL_DOMAINS"] = v
		if _, err := Load(nil, env(e), io.Discard); err != nil {
			t.Errorf("%q: %v", v, err)
		}
	}
	for v, want := range map[string]string{
		"\u212aiosk.example":   `"kiosk.example"`,
		"\u017ftaff.example":   `"staff.example"`,
		"B\u00dcCHER.example":  `"bücher.example"`,
		"xn--taff-pbb.example": "RP_ALLOWED_EMAIL_DOMAINS",
		"example.com.":         "RP_ALLOWED_EMAIL_DOMAINS",
		"https://example.com":  "RP_ALLOWED_EMAIL_DOMAINS",
		"exa_mple.com":         "RP_ALLOWED_EMAIL_DOMAINS",
		"@":                    "RP_ALLOWED_EMAIL_DOMAINS",
	} {
		e := valid()
		e["RP_ALLOWED_EMAIL_DOMAINS"] = v
		_, err := Load(nil, env(e), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "RP_ALLOWED_EMAIL_DOMAINS") || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one naming RP_ALLOWED_EMAIL_DOMAINS and %s", v, err, want)
		}
	}
}
