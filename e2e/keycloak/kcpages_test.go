package keycloak

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// consentForm finds Keycloak's consent page ("Do you grant these access
// privileges?") on p: the form with the accept and cancel buttons.
func consentForm(p page) (form, bool) {
	for _, f := range forms(p.Body) {
		if f.Method == "post" && hasInput(f, "accept") && hasInput(f, "cancel") {
			return f, true
		}
	}
	return form{}, false
}

func hasInput(f form, name string) bool {
	for _, in := range f.Inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}

// Consent answers Keycloak's consent page p with the button a user would
// press ("accept" or "cancel") and returns Keycloak's answer.
func (b *browser) Consent(t testing.TB, p page, button string) page {
	t.Helper()
	f, ok := consentForm(p)
	if !ok {
		t.Fatalf("%s: not Keycloak's consent page:\n%s", p, p.Body)
	}
	v := f.Values()
	v.Set(button, "")
	return b.Post(t, f.Resolve(t, p), v, "")
}

// endSessionEndpoint is realm's end_session_endpoint as Keycloak's
// discovery (at the front-end URL, as browsers see it) names it.
func (k *keycloak) endSessionEndpoint(t testing.TB, realm string) *url.URL {
	t.Helper()
	resp, err := adminHTTP.Get(k.Issuer(realm) + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	defer resp.Body.Close()
	var doc struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != http.StatusOK || doc.EndSession == "" {
		t.Fatalf("discovery of %s: status %d, end_session_endpoint %q, %v", realm, resp.StatusCode, doc.EndSession, err)
	}
	u, err := url.Parse(doc.EndSession)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
