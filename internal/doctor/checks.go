package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/rp-project/rp/internal/oidc"
)

func (d *doctor) get(ctx context.Context, u string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}

func (d *doctor) discovery(ctx context.Context) (oidc.Discovery, time.Time, Finding) {
	u := d.cfg.DiscoveryURL + "/.well-known/openid-configuration"
	f := Finding{Check: "discovery"}
	resp, body, err := d.get(ctx, u)
	if err != nil {
		f.Status, f.Detail = Fail, fmt.Sprintf("cannot fetch %s: %v", u, err)
		f.Fix = "make the provider reachable from where rp runs; inside docker compose use the service name (RP_DISCOVERY_URL=http://keycloak:8080/realms/<realm>)"
		return oidc.Discovery{}, time.Time{}, f
	}
	var doc oidc.Discovery
	if resp.StatusCode != http.StatusOK {
		f.Status, f.Detail = Fail, fmt.Sprintf("%s answered HTTP %d: %s", u, resp.StatusCode, trim(body, 120))
		f.Fix = "check the realm or tenant in RP_ISSUER / RP_DISCOVERY_URL"
		return doc, time.Time{}, f
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		f.Status, f.Detail = Fail, fmt.Sprintf("%s is not a discovery document: %v", u, err)
		f.Fix = "RP_DISCOVERY_URL must be the issuer URL, without /.well-known/openid-configuration"
		return doc, time.Time{}, f
	}
	date, _ := http.ParseTime(resp.Header.Get("Date"))
	f.Status, f.Detail = OK, "reachable at "+u
	return doc, date, f
}

// issuer compares the provider's name for itself with RP_ISSUER. When they
// differ by host, the fix depends on which side is fixed: a provider that
// names itself after the address rp reached it by (Keycloak without
// KC_HOSTNAME) needs its hostname set; one with a fixed name elsewhere
// needs RP_ISSUER (and RP_DISCOVERY_URL) to follow it, unless that name is
// not what browsers use. Doctor cannot tell which address browsers use,
// so the fix names the likelier side first and the other after it.
func (d *doctor) issuer(doc oidc.Discovery) Finding {
	f := Finding{Check: "issuer"}
	if doc.Issuer == d.cfg.Issuer {
		f.Status, f.Detail = OK, fmt.Sprintf("%q equals RP_ISSUER", doc.Issuer)
		return f
	}
	f.Status = Fail
	f.Detail = fmt.Sprintf("the provider names itself %q, but RP_ISSUER is %q", doc.Issuer, d.cfg.Issuer)
	got, errGot := url.Parse(doc.Issuer)
	want, errWant := url.Parse(d.cfg.Issuer)
	disc, errDisc := url.Parse(d.cfg.DiscoveryURL)
	switch {
	case errGot != nil || errWant != nil || errDisc != nil || got.Path != want.Path:
		f.Fix = fmt.Sprintf("set RP_ISSUER=%s exactly (scheme, host, port, path and trailing slash count)", doc.Issuer)
	case got.Host == want.Host:
		f.Fix = fmt.Sprintf("the provider thinks it is served over %s, browsers use %s: behind a TLS proxy, give Keycloak KC_PROXY_HEADERS=xforwarded (the proxy sending X-Forwarded-Proto) or KC_HOSTNAME=%s; or set RP_ISSUER=%s if that is what browsers use",
			got.Scheme, want.Scheme, hostname(want), doc.Issuer)
	case origin(got) == origin(disc):
		f.Fix = fmt.Sprintf("the provider names itself after the address rp reached it by (%s), so its issuer is not fixed: give Keycloak KC_HOSTNAME=%s (the address browsers use) "+
			"with KC_HOSTNAME_BACKCHANNEL_DYNAMIC=true (so rp may keep reaching it at RP_DISCOVERY_URL=%s), and keep RP_ISSUER; if browsers do use %s, set RP_ISSUER=%s instead",
			origin(disc), hostname(want), d.cfg.DiscoveryURL, origin(got), doc.Issuer)
	default:
		f.Fix = fmt.Sprintf("the provider's name is %s (Keycloak: its KC_HOSTNAME): set RP_ISSUER=%s (the issuer as browsers and tokens see it) and RP_DISCOVERY_URL=%s (the address rp reaches the provider by); "+
			"if browsers use %s instead, set KC_HOSTNAME=%s on Keycloak",
			origin(got), doc.Issuer, d.cfg.DiscoveryURL, origin(want), hostname(want))
	}
	return f
}

func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

// hostname is the value of Keycloak's KC_HOSTNAME that makes issuer its
// realm's issuer: the URL up to /realms/.
func hostname(issuer *url.URL) string {
	s := issuer.String()
	if i := strings.Index(s, "/realms/"); i >= 0 {
		return s[:i]
	}
	return origin(issuer)
}

func (d *doctor) clock(date time.Time) Finding {
	f := Finding{Check: "clock"}
	if date.IsZero() {
		f.Status, f.Detail = Warn, "the provider sent no Date header (Keycloak sends none), so clock skew was not measured"
		f.Fix = "keep both clocks synchronised with NTP; rp allows RP_CLOCK_SKEW=" + d.cfg.ClockSkew.String()
		return f
	}
	skew := d.now().Sub(date)
	// Date has a resolution of one second.
	if math.Abs(skew.Seconds()) > d.cfg.ClockSkew.Seconds()+1 {
		f.Status = Fail
		f.Detail = fmt.Sprintf("rp's clock differs from the provider's by %s, more than RP_CLOCK_SKEW=%s", skew.Round(time.Second), d.cfg.ClockSkew)
		f.Fix = "synchronise both clocks with NTP; ID tokens will otherwise look expired or issued in the future"
		return f
	}
	f.Status, f.Detail = OK, fmt.Sprintf("rp and provider clocks agree within %s", max(skew.Abs().Round(time.Second), time.Second))
	return f
}

func (d *doctor) metadata(doc oidc.Discovery) []Finding {
	var out []Finding
	if doc.EndSessionEndpoint != "" {
		out = append(out, Finding{Status: OK, Check: "end_session_endpoint", Detail: doc.EndSessionEndpoint})
	} else {
		out = append(out, Finding{Status: Fail, Check: "end_session_endpoint",
			Detail: "the provider advertises none: logout would end rp's session only",
			Fix:    "enable RP-Initiated Logout at the provider"})
	}
	if doc.BackchannelLogoutSupported {
		out = append(out, Finding{Status: OK, Check: "back-channel logout", Detail: "supported"})
	} else {
		out = append(out, Finding{Status: Warn, Check: "back-channel logout", Detail: "not advertised",
			Fix: "logouts started at the provider will not reach rp; enable Back-Channel Logout if the provider has it"})
	}
	switch {
	case slices.Contains(doc.CodeChallengeMethods, "S256"):
		out = append(out, Finding{Status: OK, Check: "PKCE", Detail: "S256 advertised"})
	case len(doc.CodeChallengeMethods) == 0:
		out = append(out, Finding{Status: Warn, Check: "PKCE", Detail: "code_challenge_methods_supported not advertised",
			Fix: "rp always sends S256; make sure the provider enforces it"})
	default:
		out = append(out, Finding{Status: Fail, Check: "PKCE", Detail: fmt.Sprintf("S256 not among %v", doc.CodeChallengeMethods),
			Fix: "enable PKCE S256 at the provider"})
	}
	if len(doc.IDTokenSigningAlgs) > 0 && !slices.Contains(doc.IDTokenSigningAlgs, d.cfg.SigningAlg) {
		out = append(out, Finding{Status: Fail, Check: "signing algorithm",
			Detail: fmt.Sprintf("RP_ID_TOKEN_SIGNING_ALG=%s is not among %v", d.cfg.SigningAlg, doc.IDTokenSigningAlgs),
			Fix:    "set RP_ID_TOKEN_SIGNING_ALG to the algorithm registered for the client"})
	} else {
		out = append(out, Finding{Status: OK, Check: "signing algorithm", Detail: d.cfg.SigningAlg})
	}
	return out
}

// client redeems a made-up code: a provider that authenticated the client
// answers invalid_grant, one that did not answers invalid_client (Keycloak:
// unauthorized_client, HTTP 401, for a known client's wrong secret). Some
// providers look at the code before the client, and a public client needs
// no secret, so a second try with a wrong secret tells whether
// invalid_grant said anything about the secret. clientKnown says the
// provider's authorization endpoint took the client id: a refusal is then
// about the secret.
func (d *doctor) client(ctx context.Context, doc oidc.Discovery, clientKnown bool) Finding {
	f := Finding{Check: "client credentials"}
	err := d.redeemMadeUpCode(ctx, doc, d.cfg.ClientSecret)
	var re *oauth2.RetrieveError
	switch {
	case err == nil:
		f.Status, f.Detail = Fail, "the token endpoint accepted a made-up code"
		f.Fix = "this provider cannot be trusted to check codes"
	case errors.As(err, &re) && re.ErrorCode == "invalid_grant":
		var wrong *oauth2.RetrieveError
		if errors.As(d.redeemMadeUpCode(ctx, doc, d.cfg.ClientSecret+"-rp-doctor-wrong"), &wrong) && wrong.ErrorCode == "invalid_grant" {
			f.Status = Warn
			f.Detail = "not verified: a deliberately wrong secret got invalid_grant too, so the provider did not check the secret: " +
				"the client may be public (it needs no secret), or the provider looks at the code before the client"
			f.Fix = "make the client confidential (Keycloak: Client authentication On, then copy the secret from the Credentials tab); " +
				"if it is, sign in once: invalid_client or unauthorized_client in rp's log means RP_CLIENT_SECRET is wrong"
			return f
		}
		f.Status, f.Detail = OK, fmt.Sprintf("client %q authenticated with %s (a made-up code got invalid_grant, a wrong secret did not)", d.cfg.ClientID, d.cfg.TokenAuthMethod)
	case errors.As(err, &re) && (re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized" || status(re) == http.StatusUnauthorized):
		f.Status, f.Detail = Fail, fmt.Sprintf("the provider refused client %q: %s", d.cfg.ClientID, oauthError(re))
		if clientKnown {
			f.Fix = fmt.Sprintf("RP_CLIENT_SECRET is not the secret of client %q (the provider knows the client: its authorization endpoint took it): "+
				"copy it again (Keycloak: Clients → %s → Credentials → Client Secret), and check that the client authenticates with %s (Keycloak: Client Authenticator \"Client Id and Secret\")",
				d.cfg.ClientID, d.cfg.ClientID, d.cfg.TokenAuthMethod)
		} else {
			f.Fix = "check RP_CLIENT_ID and RP_CLIENT_SECRET, and that the client is confidential with " + d.cfg.TokenAuthMethod + " (Keycloak: Client authentication ON, secret on the Credentials tab)"
		}
	case errors.As(err, &re) && re.ErrorCode == "unauthorized_client":
		f.Status, f.Detail = Fail, "the client may not use the authorization code flow: "+oauthError(re)
		f.Fix = "enable the standard (authorization code) flow for the client"
	case errors.As(err, &re):
		f.Status, f.Detail = Warn, fmt.Sprintf("the token endpoint answered %s (HTTP %d)", oauthError(re), status(re))
		f.Fix = "expected invalid_grant for a made-up code; check the client's settings"
	default:
		f.Status, f.Detail = Fail, fmt.Sprintf("token endpoint unreachable: %v", err)
		f.Fix = "make " + doc.TokenEndpoint + " reachable from rp"
	}
	return f
}

// oauthError is an OAuth error response as the provider put it: its code
// and, when it gave one, its description.
func oauthError(re *oauth2.RetrieveError) string {
	if re.ErrorDescription == "" {
		return re.ErrorCode
	}
	return fmt.Sprintf("%s (%q)", re.ErrorCode, re.ErrorDescription)
}

func (d *doctor) redeemMadeUpCode(ctx context.Context, doc oidc.Discovery, secret string) error {
	style := oauth2.AuthStyleInHeader
	if d.cfg.TokenAuthMethod == "client_secret_post" {
		style = oauth2.AuthStyleInParams
	}
	oc := oauth2.Config{ClientID: d.cfg.ClientID, ClientSecret: secret, RedirectURL: d.cfg.RedirectURL(),
		Endpoint: oauth2.Endpoint{TokenURL: d.fromHere(doc.TokenEndpoint), AuthStyle: style}}
	_, err := oc.Exchange(context.WithValue(ctx, oauth2.HTTPClient, d.http), "rp-doctor-made-up-code", oauth2.VerifierOption(oauth2.GenerateVerifier()))
	return err
}

func withQuery(endpoint string, q url.Values) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	all := u.Query()
	for k, v := range q {
		all[k] = v
	}
	u.RawQuery = all.Encode()
	return u.String()
}

func status(re *oauth2.RetrieveError) int {
	if re.Response == nil {
		return 0
	}
	return re.Response.StatusCode
}
