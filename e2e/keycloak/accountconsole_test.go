package keycloak

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
)

// accountConsole is Keycloak's account console as its single-page app
// drives it over HTTP: keycloak-js signs in as the public client
// account-console (authorization code with PKCE S256, response_mode
// fragment, the browser's SSO session), then the app calls the account
// REST API with the access token.
type accountConsole struct {
	kc       *keycloak
	realm    string
	b        *browser
	redirect string // the console's own URL, keycloak-js's redirect URI
	// AskedPassword says whether Keycloak showed its login form: the
	// browser had no SSO session in the realm.
	AskedPassword        bool
	IDToken, AccessToken string
}

// openAccountConsole opens the account console in b as u: with the
// browser's SSO session when it has one, else through the login form.
func (k *keycloak) openAccountConsole(t testing.TB, b *browser, u user) *accountConsole {
	t.Helper()
	a := &accountConsole{kc: k, realm: u.Realm, b: b, redirect: k.URL + "/realms/" + u.Realm + "/account/"}
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	state := rand.Text()
	q := url.Values{
		"client_id": {"account-console"}, "redirect_uri": {a.redirect}, "state": {state},
		"response_mode": {"fragment"}, "response_type": {"code"}, "scope": {"openid"}, "nonce": {rand.Text()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	p := b.Get(t, k.Issuer(u.Realm)+"/protocol/openid-connect/auth?"+q.Encode())
	if !p.IsRedirect() {
		a.AskedPassword = true
		p = b.LogIn(t, p, u)
	}
	if !p.IsRedirect() {
		t.Fatalf("account console sign-in: %s\n%s", p, p.Body)
	}
	loc := p.Location(t)
	frag, err := url.ParseQuery(loc.Fragment)
	if err != nil || frag.Get("code") == "" || frag.Get("state") != state {
		t.Fatalf("account console sign-in: redirected to %s, want %s#...code=...&state=%s", loc, a.redirect, state)
	}
	resp, err := http.PostForm(k.Direct+"/realms/"+u.Realm+"/protocol/openid-connect/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {frag.Get("code")}, "client_id": {"account-console"},
		"redirect_uri": {a.redirect}, "code_verifier": {verifier},
	})
	if err != nil {
		t.Fatalf("account console token: %v", err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" || tok.IDToken == "" {
		t.Fatalf("account console token: status %d, %v", resp.StatusCode, err)
	}
	a.AccessToken, a.IDToken = tok.AccessToken, tok.IDToken
	return a
}

// api calls the account REST API (path below /realms/REALM/account) as
// the console does; a non-nil out receives the JSON answer. It fails the
// test on any status but 2xx.
func (a *accountConsole) api(t testing.TB, method, path string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, a.kc.URL+"/realms/"+a.realm+"/account"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := adminHTTP.Do(req)
	if err != nil {
		t.Fatalf("account API %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("account API %s %s: status %d: %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("account API %s %s: %v in %s", method, path, err, raw)
		}
	}
}

// accountSession is one session on the console's "Device activity" page.
type accountSession struct {
	ID      string `json:"id"`
	Current bool   `json:"current"`
	Clients []struct {
		ClientID string `json:"clientId"`
	} `json:"clients"`
}

// sessions lists the sessions "Device activity" shows.
func (a *accountConsole) sessions(t testing.TB) []accountSession {
	t.Helper()
	var devices []struct {
		Sessions []accountSession `json:"sessions"`
	}
	a.api(t, http.MethodGet, "/sessions/devices", &devices)
	var out []accountSession
	for _, d := range devices {
		out = append(out, d.Sessions...)
	}
	return out
}

// signOut is the console's own "Sign out": keycloak.logout(), a navigation
// to the end-session endpoint with the console's ID token and its own URL
// as post_logout_redirect_uri. It returns Keycloak's answer: its "Logging
// out" page, which frames the front-channel logout URL of each client of
// the ended session, or a redirect.
func (a *accountConsole) signOut(t testing.TB) page {
	t.Helper()
	q := url.Values{"client_id": {"account-console"}, "post_logout_redirect_uri": {a.redirect}, "id_token_hint": {a.IDToken}}
	p := a.b.Get(t, a.kc.Issuer(a.realm)+"/protocol/openid-connect/logout?"+q.Encode())
	if p.Status != http.StatusOK && !p.IsRedirect() {
		t.Fatalf("account console logout: %s\n%s", p, p.Body)
	}
	return p
}

// signOutAllDevices is "Device activity" → "Sign out all devices", as the
// console's DeviceActivity.signOutAll does it: DELETE /account/sessions
// (every session but the console's own), then signOut.
func (a *accountConsole) signOutAllDevices(t testing.TB) page {
	t.Helper()
	a.api(t, http.MethodDelete, "/sessions", nil)
	return a.signOut(t)
}

func (s accountSession) String() string {
	ids := ""
	for _, c := range s.Clients {
		ids += " " + c.ClientID
	}
	return fmt.Sprintf("%s (current %v, clients:%s)", s.ID, s.Current, ids)
}
