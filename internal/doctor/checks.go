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
	if errGot == nil && errWant == nil && got.Path == want.Path && got.Host != want.Host {
		f.Fix = fmt.Sprintf("they differ only by host: set RP_ISSUER=%s (the issuer as browsers and tokens see it) and RP_DISCOVERY_URL=%s (the address rp reaches the provider by); for Keycloak set KC_HOSTNAME to the browser-facing URL",
			doc.Issuer, d.cfg.DiscoveryURL)
		return f
	}
	f.Fix = fmt.Sprintf("set RP_ISSUER=%s exactly (scheme, host, port, path and trailing slash count)", doc.Issuer)
	return f
}

func (d *doctor) clock(date time.Time) Finding {
	f := Finding{Check: "clock"}
	if date.IsZero() {
		f.Status, f.Detail = Warn, "the provider sent no Date header; clock skew not measured"
		f.Fix = "keep both clocks synchronised with NTP"
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
// answers invalid_grant, one that did not answers invalid_client. Some
// providers look at the code before the client, so a second try with a
// wrong secret tells whether invalid_grant said anything about the secret.
func (d *doctor) client(ctx context.Context, doc oidc.Discovery) Finding {
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
			f.Detail = "not verified: this provider checks the code before the client, so a made-up code cannot test the secret"
			f.Fix = "sign in once; an invalid_client error in rp's log means RP_CLIENT_SECRET is wrong"
			return f
		}
		f.Status, f.Detail = OK, fmt.Sprintf("client %q authenticated with %s (a made-up code got invalid_grant, a wrong secret did not)", d.cfg.ClientID, d.cfg.TokenAuthMethod)
	case errors.As(err, &re) && (re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized" || status(re) == http.StatusUnauthorized):
		f.Status, f.Detail = Fail, fmt.Sprintf("the provider refused client %q: %s", d.cfg.ClientID, re.ErrorCode)
		f.Fix = "check RP_CLIENT_ID and RP_CLIENT_SECRET, and that the client is confidential with " + d.cfg.TokenAuthMethod + " (Keycloak: Client authentication ON, secret on the Credentials tab)"
	case errors.As(err, &re) && re.ErrorCode == "unauthorized_client":
		f.Status, f.Detail = Fail, "the client may not use the authorization code flow"
		f.Fix = "enable the standard (authorization code) flow for the client"
	case errors.As(err, &re):
		f.Status, f.Detail = Warn, fmt.Sprintf("the token endpoint answered %q (HTTP %d)", re.ErrorCode, status(re))
		f.Fix = "expected invalid_grant for a made-up code; check the client's settings"
	default:
		f.Status, f.Detail = Fail, fmt.Sprintf("token endpoint unreachable: %v", err)
		f.Fix = "make " + doc.TokenEndpoint + " reachable from rp"
	}
	return f
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

// redirectURI asks the authorization endpoint to start a sign-in with rp's
// redirect_uri; providers refuse an unregistered one with a 400 page.
func (d *doctor) redirectURI(ctx context.Context, doc oidc.Discovery) Finding {
	q := url.Values{"client_id": {d.cfg.ClientID}, "redirect_uri": {d.cfg.RedirectURL()}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"rp-doctor"}, "nonce": {"rp-doctor"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	return d.probe(ctx, "redirect URI", d.cfg.RedirectURL(), withQuery(doc.AuthorizationEndpoint, q),
		"register it exactly as the client's redirect URI (Keycloak: Valid redirect URIs)")
}

// postLogoutURI asks the end-session endpoint to accept rp's
// post_logout_redirect_uri.
func (d *doctor) postLogoutURI(ctx context.Context, doc oidc.Discovery) Finding {
	if doc.EndSessionEndpoint == "" {
		return Finding{Status: Warn, Check: "post-logout URI", Detail: "not checked: no end_session_endpoint"}
	}
	q := url.Values{"client_id": {d.cfg.ClientID}, "post_logout_redirect_uri": {d.cfg.PostLogoutRedirectURL()}}
	return d.probe(ctx, "post-logout URI", d.cfg.PostLogoutRedirectURL(), withQuery(doc.EndSessionEndpoint, q),
		"register it as a post-logout redirect URI (Keycloak: Valid post logout redirect URIs, a list of its own)")
}

func (d *doctor) probe(ctx context.Context, check, uri, target, fix string) Finding {
	f := Finding{Check: check}
	resp, body, err := d.get(ctx, d.fromHere(target))
	switch {
	case err != nil:
		f.Status, f.Detail = Warn, fmt.Sprintf("%s not checked: the provider could not be reached from here: %v", uri, err)
		f.Fix = "run rp doctor where it can reach the provider's browser-facing address"
	case resp.StatusCode >= 400:
		f.Status, f.Detail = Fail, fmt.Sprintf("%s refused (HTTP %d: %s)", uri, resp.StatusCode, trim(body, 100))
		f.Fix = fix
	default:
		f.Status, f.Detail = OK, uri+" accepted"
	}
	return f
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
