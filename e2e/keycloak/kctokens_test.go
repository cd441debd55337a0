package keycloak

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// What Keycloak itself says about a token: introspection and a refresh
// grant as client c (the test acts as rp's client, with its secret), and
// the realm's saved events.

// kcTokenCall posts form to realm's openid-connect endpoint path ("token",
// "token/introspect") as client c, and decodes the JSON answer.
func (k *keycloak) kcTokenCall(t testing.TB, c client, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, k.Direct+"/realms/"+c.Realm+"/protocol/openid-connect/"+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.Secret))
	resp, err := adminHTTP.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("POST %s: status %d, not JSON: %s", path, resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

// active asks Keycloak's introspection endpoint (RFC 7662), as client c,
// whether refreshToken is active. (Keycloak 26 introspects access tokens
// only for a client in their audience, and rp's client is not in its
// access tokens' audience: accepted asks UserInfo about those.)
func (k *keycloak) active(t testing.TB, c client, refreshToken string) bool {
	t.Helper()
	status, m := k.kcTokenCall(t, c, "token/introspect", url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}})
	if status != http.StatusOK {
		t.Fatalf("introspection: status %d: %v", status, m)
	}
	a, ok := m["active"].(bool)
	if !ok {
		t.Fatalf("introspection: no boolean active in %v", m)
	}
	return a
}

// accepted reports whether Keycloak's UserInfo endpoint in realm accepts
// accessToken, as an app calling it with the token would find.
func (k *keycloak) accepted(t testing.TB, realm, accessToken string) bool {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, k.Direct+"/realms/"+realm+"/protocol/openid-connect/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := adminHTTP.Do(req)
	if err != nil {
		t.Fatalf("UserInfo: %v", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusUnauthorized:
		return false
	}
	t.Fatalf("UserInfo answered %s", resp.Status)
	return false
}

// redeem redeems refreshToken as client c, as rp would, and returns the
// status and the error code and description ("" when it worked).
func (k *keycloak) redeem(t testing.TB, c client, refreshToken string) (int, string) {
	t.Helper()
	status, m := k.kcTokenCall(t, c, "token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
	if status == http.StatusOK {
		return status, ""
	}
	return status, fmt.Sprintf("%v (%v)", m["error"], m["error_description"])
}

// kcEvent is one of a realm's saved events (the realm must save the type:
// enabledEventTypes).
type kcEvent struct {
	Time     int64             `json:"time"`
	Type     string            `json:"type"`
	ClientID string            `json:"clientId"`
	UserID   string            `json:"userId"`
	Error    string            `json:"error"`
	Details  map[string]string `json:"details"`
}

// events lists the realm's saved events of client c of the given types.
func (k *keycloak) events(t testing.TB, c client, types ...string) []kcEvent {
	t.Helper()
	q := url.Values{"client": {c.ClientID}, "max": {"1000"}}
	for _, typ := range types {
		q.Add("type", typ)
	}
	var ev []kcEvent
	k.Admin(t, http.MethodGet, "/"+c.Realm+"/events?"+q.Encode(), nil, &ev)
	return ev
}
