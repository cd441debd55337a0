package keycloak

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testRealm is the test-only realm (testdata/rptest-realm.json): groups
// admins and users and a "groups" client scope, no users and no clients;
// tests make their own with newUser and newClient.
const testRealm = "rptest"

var adminHTTP = &http.Client{Timeout: 30 * time.Second}

// adminToken is a token of the master realm's bootstrap admin (compose's
// KC_BOOTSTRAP_ADMIN_*), renewed before it expires (60 s by default).
func (k *keycloak) adminToken(t testing.TB) string {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.token != "" && time.Until(k.tokenExp) > 15*time.Second {
		return k.token
	}
	resp, err := adminHTTP.PostForm(k.Direct+"/realms/master/protocol/openid-connect/token", url.Values{
		"grant_type": {"password"}, "client_id": {"admin-cli"},
		"username": {k.adminUser}, "password": {k.adminPass},
	})
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("admin token: status %d, %v", resp.StatusCode, err)
	}
	k.token, k.tokenExp = tok.AccessToken, time.Now().Add(time.Duration(tok.ExpiresIn)*time.Second)
	return k.token
}

// Admin calls Keycloak's admin REST API: path is below /admin/realms (e.g.
// "/rptest/users"). A non-nil body is sent as JSON; a non-nil out receives
// the JSON answer. It returns the status and the Location header; statuses
// of 400 and above fail the test unless allowed.
func (k *keycloak) Admin(t testing.TB, method, path string, body, out any, allow ...int) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, k.Direct+"/admin/realms"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+k.adminToken(t))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := adminHTTP.Do(req)
	if err != nil {
		t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		for _, a := range allow {
			if a == resp.StatusCode {
				return resp.StatusCode, ""
			}
		}
		t.Fatalf("admin %s %s: status %d: %s", method, path, resp.StatusCode, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("admin %s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, resp.Header.Get("Location")
}

// user is a realm user made for one test.
type user struct {
	Realm, ID, Username, Password, Email string
}

// newUser makes a user of its own for the test in realm, member of groups
// (by name), deleted when the test ends. A user of its own keeps a test's
// logouts ("end this user's sessions") from reaching another test.
func (k *keycloak) newUser(t testing.TB, realm string, groups ...string) user {
	t.Helper()
	name := "u-" + strings.ToLower(rand.Text()[:10])
	u := user{Realm: realm, Username: name, Password: "pw-" + rand.Text()[:16], Email: name + "@example.com"}
	var paths []string
	for _, g := range groups {
		paths = append(paths, "/"+g)
	}
	_, loc := k.Admin(t, http.MethodPost, "/"+realm+"/users", map[string]any{
		"username": name, "enabled": true, "email": u.Email, "emailVerified": true,
		"firstName": "Test", "lastName": strings.ToUpper(name[2:3]) + name[3:],
		"groups":      paths,
		"credentials": []map[string]any{{"type": "password", "value": u.Password, "temporary": false}},
	}, nil)
	u.ID = loc[strings.LastIndex(loc, "/")+1:]
	if u.ID == "" {
		t.Fatalf("creating user %s: no Location", name)
	}
	t.Cleanup(func() { k.Admin(t, http.MethodDelete, "/"+realm+"/users/"+u.ID, nil, nil, http.StatusNotFound) })
	return u
}

// client is a confidential client registered for one test.
type client struct {
	Realm, ID, ClientID, Secret string
}

// clientFor registers a confidential web client for an rp at base (its
// RP_BASE_URL plus RP_PATH_PREFIX), as the demo realm registers rp:
// redirect URI base/callback, post-logout base/logged-out, back-channel
// logout to base/backchannel-logout with sid, PKCE S256, the groups
// claim. attrs are set over the defaults (e.g. "access.token.lifespan");
// over is merged into the representation last (e.g. "frontchannelLogout").
// The client is deleted when the test ends.
func (k *keycloak) clientFor(t testing.TB, realm, base string, attrs map[string]string, over map[string]any) client {
	t.Helper()
	c := client{Realm: realm, ClientID: "rp-" + strings.ToLower(rand.Text()[:10]), Secret: "s-" + rand.Text() + rand.Text()}
	a := map[string]string{
		"pkce.code.challenge.method":               "S256",
		"post.logout.redirect.uris":                base + "/logged-out",
		"backchannel.logout.url":                   base + "/backchannel-logout",
		"backchannel.logout.session.required":      "true",
		"backchannel.logout.revoke.offline.tokens": "false",
	}
	for key, v := range attrs {
		a[key] = v
	}
	rep := map[string]any{
		"clientId": c.ClientID, "enabled": true, "protocol": "openid-connect",
		"publicClient": false, "clientAuthenticatorType": "client-secret", "secret": c.Secret,
		"standardFlowEnabled": true, "implicitFlowEnabled": false, "directAccessGrantsEnabled": false,
		"consentRequired": false, "frontchannelLogout": false,
		"baseUrl": base + "/", "redirectUris": []string{base + "/callback"}, "webOrigins": []string{},
		"attributes": a,
		"protocolMappers": []map[string]any{{
			"name": "groups", "protocol": "openid-connect", "protocolMapper": "oidc-group-membership-mapper",
			"config": map[string]string{"claim.name": "groups", "full.path": "false", "id.token.claim": "true",
				"access.token.claim": "true", "userinfo.token.claim": "true", "introspection.token.claim": "true"},
		}},
	}
	for key, v := range over {
		rep[key] = v
	}
	_, loc := k.Admin(t, http.MethodPost, "/"+realm+"/clients", rep, nil)
	c.ID = loc[strings.LastIndex(loc, "/")+1:]
	if c.ID == "" {
		t.Fatalf("creating client %s: no Location", c.ClientID)
	}
	t.Cleanup(func() { k.Admin(t, http.MethodDelete, "/"+realm+"/clients/"+c.ID, nil, nil, http.StatusNotFound) })
	return c
}

// userSession is one of a user's sessions as the admin API lists them.
type userSession struct {
	ID      string            `json:"id"`
	Clients map[string]string `json:"clients"`
}

// sessions lists u's sessions at Keycloak.
func (k *keycloak) sessions(t testing.TB, u user) []userSession {
	t.Helper()
	var s []userSession
	k.Admin(t, http.MethodGet, fmt.Sprintf("/%s/users/%s/sessions", u.Realm, u.ID), nil, &s)
	return s
}

// offlineSessions lists u's offline sessions with client c: rp asks for
// offline_access with RP_OFFLINE_ACCESS=true.
func (k *keycloak) offlineSessions(t testing.TB, u user, c client) []userSession {
	t.Helper()
	var s []userSession
	k.Admin(t, http.MethodGet, fmt.Sprintf("/%s/users/%s/offline-sessions/%s", u.Realm, u.ID, c.ID), nil, &s)
	return s
}
