package devop_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/devop"
)

const (
	testClientID     = "rp-test"
	testClientSecret = "rp-test-secret"
	testRedirect     = "http://127.0.0.1:1/callback" // never dialled: redirects are not followed
	testPostLogout   = "http://127.0.0.1:1/logged-out"
)

func startProvider(t *testing.T, o devop.Options) *devop.Provider {
	t.Helper()
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.ClientID == "" {
		o.ClientID, o.ClientSecret = testClientID, testClientSecret
	}
	if o.RedirectURIs == nil {
		o.RedirectURIs = []string{testRedirect}
		o.PostLogoutRedirectURIs = []string{testPostLogout}
	}
	p, err := devop.Start(t.Context(), o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// rpSide plays the relying party against the provider with nothing but
// net/http: authorization requests, code redemption, UserInfo.
type rpSide struct {
	t        *testing.T
	p        *devop.Provider
	b        *browser
	meta     discovery
	verifier string
	nonce    string
	state    string
}

type discovery struct {
	Issuer             string   `json:"issuer"`
	Authorization      string   `json:"authorization_endpoint"`
	Token              string   `json:"token_endpoint"`
	UserInfo           string   `json:"userinfo_endpoint"`
	JWKS               string   `json:"jwks_uri"`
	EndSession         string   `json:"end_session_endpoint"`
	CodeChallenge      []string `json:"code_challenge_methods_supported"`
	IDTokenAlgs        []string `json:"id_token_signing_alg_values_supported"`
	TokenAuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	ResponseTypes      []string `json:"response_types_supported"`
	BackchannelLogout  bool     `json:"backchannel_logout_supported"`
	IssParameterInResp bool     `json:"authorization_response_iss_parameter_supported"`
}

func newRPSide(t *testing.T, p *devop.Provider) *rpSide {
	t.Helper()
	r := &rpSide{t: t, p: p, b: newBrowser(t)}
	pg := r.b.get(p.Issuer + "/.well-known/openid-configuration").ok(t)
	if err := json.Unmarshal([]byte(pg.Body), &r.meta); err != nil {
		t.Fatalf("discovery: %v\n%s", err, pg.Body)
	}
	return r
}

// authorize starts a sign-in and returns the provider's first answer.
func (r *rpSide) authorize(extra url.Values) *page {
	r.t.Helper()
	r.verifier, r.nonce, r.state = rand.Text()+rand.Text(), rand.Text(), rand.Text()
	sum := sha256.Sum256([]byte(r.verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {testClientID},
		"redirect_uri":          {testRedirect},
		"scope":                 {"openid profile email"},
		"state":                 {r.state},
		"nonce":                 {r.nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	for k, v := range q {
		if len(v) == 1 && v[0] == "" {
			delete(q, k)
		}
	}
	return r.b.get(r.meta.Authorization + "?" + q.Encode())
}

// signIn goes from the authorization request to the code, through the form
// when there is no provider session.
func (r *rpSide) signIn(username, password string) string {
	r.t.Helper()
	loginURL := r.authorize(nil).redirect(r.t, r.p.Issuer+"/login?")
	pg := r.b.get(loginURL.String())
	if pg.Status == http.StatusOK {
		f := pg.findForm(r.t, "post", "/login")
		f.Hidden.Set("username", username)
		f.Hidden.Set("password", password)
		pg = r.b.post(pg.resolve(f.Action), r.p.Issuer, f.Hidden)
	}
	cb := pg.redirect(r.t, r.p.Issuer+"/authorize/callback?")
	return r.code(r.b.get(cb.String()))
}

// code takes the code from the redirect to the client, checking state.
func (r *rpSide) code(pg *page) string {
	r.t.Helper()
	q := pg.redirect(r.t, testRedirect+"?").Query()
	if q.Get("state") != r.state {
		r.t.Fatalf("callback state %q, want %q", q.Get("state"), r.state)
	}
	if q.Get("code") == "" {
		r.t.Fatalf("callback without code: %v", q)
	}
	return q.Get("code")
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
	TokenType   string `json:"token_type"`
	Error       string `json:"error"`
}

func (r *rpSide) redeem(code, verifier, secret string) (int, tokenResponse) {
	r.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
	req, _ := http.NewRequest(http.MethodPost, r.meta.Token, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testClientID, secret)
	pg := r.b.do(req)
	var tr tokenResponse
	if err := json.Unmarshal([]byte(pg.Body), &tr); err != nil {
		r.t.Fatalf("token response: %v\n%s", err, pg.Body)
	}
	return pg.Status, tr
}

func (r *rpSide) userinfo(accessToken string) (int, map[string]any) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.meta.UserInfo, nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	pg := r.b.do(req)
	var claims map[string]any
	_ = json.Unmarshal([]byte(pg.Body), &claims)
	return pg.Status, claims
}

// verifyJWT checks an RS256 JWT's signature against the provider's JWKS and
// returns its header and claims.
func (r *rpSide) verifyJWT(raw string) (header, claims map[string]any) {
	r.t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		r.t.Fatalf("not a JWS: %q", raw)
	}
	decode := func(i int, v any) {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			r.t.Fatalf("JWT part %d: %v", i, err)
		}
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				r.t.Fatalf("JWT part %d: %v", i, err)
			}
		}
	}
	decode(0, &header)
	decode(1, &claims)
	if header["alg"] != "RS256" {
		r.t.Fatalf("alg %v, want RS256", header["alg"])
	}
	var jwks struct {
		Keys []struct{ Kid, Kty, N, E string } `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.b.get(r.meta.JWKS).ok(r.t).Body), &jwks); err != nil {
		r.t.Fatal(err)
	}
	for _, k := range jwks.Keys {
		if k.Kid != header["kid"] || k.Kty != "RSA" {
			continue
		}
		n, _ := base64.RawURLEncoding.DecodeString(k.N)
		e, _ := base64.RawURLEncoding.DecodeString(k.E)
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			r.t.Fatalf("ID token signature: %v", err)
		}
		return header, claims
	}
	r.t.Fatalf("no JWKS key with kid %v", header["kid"])
	return nil, nil
}

func TestDiscovery(t *testing.T) {
	p := startProvider(t, devop.Options{})
	r := newRPSide(t, p)
	m := r.meta
	if m.Issuer != p.Issuer || !strings.HasPrefix(p.Issuer, "http://127.0.0.1:") || p.Issuer != "http://"+p.Addr {
		t.Errorf("issuer %q, Provider.Issuer %q, Addr %q", m.Issuer, p.Issuer, p.Addr)
	}
	if m.EndSession != p.Issuer+"/end_session" {
		t.Errorf("end_session_endpoint %q", m.EndSession)
	}
	if strings.Join(m.CodeChallenge, " ") != "S256" {
		t.Errorf("code_challenge_methods_supported %v, want [S256]", m.CodeChallenge)
	}
	if strings.Join(m.IDTokenAlgs, " ") != "RS256" {
		t.Errorf("id_token_signing_alg_values_supported %v, want [RS256]", m.IDTokenAlgs)
	}
	if !strings.Contains(" "+strings.Join(m.TokenAuthMethods, " ")+" ", " client_secret_basic ") {
		t.Errorf("token_endpoint_auth_methods_supported %v lacks client_secret_basic", m.TokenAuthMethods)
	}
}

// TestCodeFlow covers the provider as rp uses it: PKCE required, the form,
// single sign-on, single-use codes, client authentication, RS256 ID tokens
// with sid, UserInfo, and RP-initiated logout ending the provider session.
func TestCodeFlow(t *testing.T) {
	p := startProvider(t, devop.Options{})
	r := newRPSide(t, p)
	alice := devop.DemoUsers()[0]

	// No PKCE: refused, back at the client with the error and state.
	q := r.authorize(url.Values{"code_challenge": {""}, "code_challenge_method": {""}}).redirect(t, testRedirect+"?").Query()
	if q.Get("error") != "invalid_request" || q.Get("state") != r.state {
		t.Errorf("authorization without PKCE: got %v, want error=invalid_request with state", q)
	}
	// plain PKCE: refused too.
	q = r.authorize(url.Values{"code_challenge_method": {"plain"}}).redirect(t, testRedirect+"?").Query()
	if q.Get("error") == "" {
		t.Errorf("authorization with plain PKCE: got %v, want an error", q)
	}

	// The form: a wrong password shows it again.
	loginURL := r.authorize(nil).redirect(t, p.Issuer+"/login?")
	pg := r.b.get(loginURL.String()).ok(t)
	f := pg.findForm(t, "post", "/login")
	f.Hidden.Set("username", alice.Username)
	f.Hidden.Set("password", "wrong")
	if pg := r.b.post(pg.resolve(f.Action), p.Issuer, f.Hidden); pg.Status != http.StatusUnauthorized || !strings.Contains(pg.Body, "Wrong username or password") {
		t.Fatalf("wrong password: got %d\n%s", pg.Status, excerpt(pg.Body))
	}
	// A cross-site POST is refused.
	f.Hidden.Set("password", alice.Password)
	if pg := r.b.post(pg.resolve(f.Action), "http://evil.example", f.Hidden); pg.Status != http.StatusForbidden {
		t.Fatalf("cross-site sign-in: got %d, want 403", pg.Status)
	}
	cb := r.b.post(pg.resolve(f.Action), p.Issuer, f.Hidden).redirect(t, p.Issuer+"/authorize/callback?")
	code := r.code(r.b.get(cb.String()))

	// A wrong verifier fails, and burns the code.
	if status, tr := r.redeem(code, "wrong-verifier-wrong-verifier-wrong-verifier-00", testClientSecret); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Errorf("wrong code_verifier: %d %q, want 400 invalid_grant", status, tr.Error)
	}
	if status, tr := r.redeem(code, r.verifier, testClientSecret); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Errorf("code used twice: %d %q, want 400 invalid_grant", status, tr.Error)
	}

	// Single sign-on: the provider session signs in without the form.
	code = r.signIn("", "")
	if status, tr := r.redeem(code, r.verifier, "wrong-secret"); status != http.StatusUnauthorized || tr.Error != "invalid_client" {
		t.Errorf("wrong client secret: %d %q, want 401 invalid_client", status, tr.Error)
	}
	code = r.signIn("", "")
	status, tr := r.redeem(code, r.verifier, testClientSecret)
	if status != http.StatusOK || tr.IDToken == "" || tr.AccessToken == "" {
		t.Fatalf("token response %d %+v", status, tr)
	}
	_, claims := r.verifyJWT(tr.IDToken)
	sid, _ := claims["sid"].(string)
	if claims["iss"] != p.Issuer || claims["sub"] != alice.Subject || claims["aud"] != testClientID && !containsAny(claims["aud"], testClientID) ||
		claims["nonce"] != r.nonce || sid == "" {
		t.Errorf("ID token claims %v", claims)
	}
	status, ui := r.userinfo(tr.AccessToken)
	if status != http.StatusOK || ui["sub"] != alice.Subject || ui["email"] != alice.Email || ui["preferred_username"] != alice.Username {
		t.Errorf("userinfo %d %v", status, ui)
	}

	// An unregistered post_logout_redirect_uri is refused, without redirect.
	end := func(postLogout, state string) *page {
		v := url.Values{"id_token_hint": {tr.IDToken}, "client_id": {testClientID}, "post_logout_redirect_uri": {postLogout}, "state": {state}}
		return r.b.get(r.meta.EndSession + "?" + v.Encode())
	}
	if pg := end("http://127.0.0.1:1/elsewhere", "s1"); pg.Status < 400 {
		t.Errorf("unregistered post_logout_redirect_uri: got %d (Location %v), want an error", pg.Status, pg.location)
	}
	// RP-initiated logout: back at the client with state; the provider
	// session and the access token are gone.
	back := end(testPostLogout, "s2").redirect(t, testPostLogout)
	if back.String() != testPostLogout+"?state=s2" {
		t.Errorf("end_session redirected to %s, want %s?state=s2", back, testPostLogout)
	}
	if status, _ := r.userinfo(tr.AccessToken); status == http.StatusOK {
		t.Errorf("userinfo after logout: 200, want the access token revoked")
	}
	loginURL = r.authorize(url.Values{"prompt": {"none"}}).redirect(t, p.Issuer+"/login?")
	if q := r.b.get(loginURL.String()).redirect(t, testRedirect+"?").Query(); q.Get("error") != "login_required" {
		t.Errorf("prompt=none after logout: %v, want error=login_required", q)
	}
	loginURL = r.authorize(nil).redirect(t, p.Issuer+"/login?")
	r.b.get(loginURL.String()).ok(t).findForm(t, "post", "/login")
}

func containsAny(aud any, want string) bool {
	list, _ := aud.([]any)
	for _, a := range list {
		if a == want {
			return true
		}
	}
	return false
}

func TestStartRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:0", "example.com:0", "nonsense"} {
		p, err := devop.Start(context.Background(), devop.Options{Addr: addr, ClientID: "c", ClientSecret: "s", RedirectURIs: []string{testRedirect}})
		if err == nil {
			p.Close()
			t.Errorf("Start(Addr %q) succeeded, want a refusal", addr)
		}
	}
}

func TestIssuerPortZeroTakesTheListenedPort(t *testing.T) {
	p := startProvider(t, devop.Options{Issuer: "http://localhost:0"})
	_, port, _ := strings.Cut(p.Addr, ":")
	if p.Issuer != "http://localhost:"+port {
		t.Errorf("Issuer %q, Addr %q", p.Issuer, p.Addr)
	}
}

func TestStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	p, err := devop.Start(ctx, devop.Options{Addr: "127.0.0.1:0", ClientID: "c", ClientSecret: "s", RedirectURIs: []string{testRedirect}})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(p.Issuer + "/.well-known/openid-configuration"); err == nil {
		t.Error("provider still answers after its context ended")
	}
}
