package oidc

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/testprovider"
)

func newClient(t *testing.T, op *testprovider.Provider) *Client {
	t.Helper()
	c := New(Settings{Issuer: op.Issuer, DiscoveryURL: op.DiscoveryURL, ClientID: op.ClientID,
		ClientSecret: op.ClientSecret, RedirectURL: "http://rp.test/callback", Scopes: []string{"openid"}})
	if err := c.Discover(t.Context()); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNotReadyBeforeDiscovery(t *testing.T) {
	c := New(Settings{Issuer: "http://127.0.0.1:1", ClientID: "x"})
	if !errors.Is(c.Ready(), ErrNotReady) {
		t.Fatalf("Ready() = %v", c.Ready())
	}
	if _, err := c.AuthCodeURL(NewAuthRequest()); !errors.Is(err, ErrNotReady) {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	if _, ok := c.EndSessionURL("t", "http://rp.test/logged-out", "s"); ok {
		t.Fatal("an end-session URL without metadata")
	}
	if err := c.Discover(t.Context()); err == nil || !errors.Is(c.Ready(), ErrNotReady) {
		t.Fatalf("discovery against nothing: %v", err)
	}
}

func TestEndSessionURLKeepsTheEndpointsQuery(t *testing.T) {
	c := newClient(t, testprovider.New(t))
	raw, ok := c.EndSessionURL("the.id.token", "http://rp.test/logged-out", "st")
	if !ok {
		t.Fatal("no end-session URL")
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	if q.Get("tenant") != "t1" || q.Get("id_token_hint") != "the.id.token" || q.Get("client_id") != "rp-test" ||
		q.Get("post_logout_redirect_uri") != "http://rp.test/logged-out" || q.Get("state") != "st" {
		t.Fatalf("end-session URL %s", raw)
	}
}

func TestCheckIssuerParam(t *testing.T) {
	advertised := newClient(t, testprovider.New(t))
	op := testprovider.New(t)
	op.Set(func(k *testprovider.Knobs) { k.NoIssParam = true })
	silent := newClient(t, op)
	cases := []struct {
		name string
		c    *Client
		q    url.Values
		ok   bool
	}{
		{"advertised and equal", advertised, url.Values{"iss": {advertised.s.Issuer}}, true},
		{"advertised and missing", advertised, url.Values{}, false},
		{"advertised and other", advertised, url.Values{"iss": {"https://evil.example"}}, false},
		{"advertised and twice", advertised, url.Values{"iss": {advertised.s.Issuer, advertised.s.Issuer}}, false},
		{"not advertised and missing", silent, url.Values{}, true},
		{"not advertised but present and other", silent, url.Values{"iss": {"https://evil.example"}}, false},
		{"not advertised but present and equal", silent, url.Values{"iss": {silent.s.Issuer}}, true},
	}
	for _, tc := range cases {
		err := tc.c.CheckIssuerParam(tc.q)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrRejected)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestAuthCodeURL(t *testing.T) {
	c := newClient(t, testprovider.New(t))
	a := NewAuthRequest()
	raw, err := c.AuthCodeURL(a)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.ParseQuery(raw[strings.Index(raw, "?")+1:])
	if q.Get("state") != a.State || q.Get("nonce") != a.Nonce || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || strings.Contains(raw, a.Verifier) {
		t.Fatalf("auth URL %s", raw)
	}
	if b := NewAuthRequest(); b.State == a.State || b.Nonce == a.Nonce || b.Verifier == a.Verifier {
		t.Fatal("auth requests repeat")
	}
}

func TestMissingRequestedClaims(t *testing.T) {
	scopes := []string{"openid", "profile", "email"}
	if missingRequestedClaims(map[string]any{"name": "A", "email": "a@x"}, scopes) {
		t.Error("complete claims reported missing")
	}
	if !missingRequestedClaims(map[string]any{"name": "A"}, scopes) {
		t.Error("missing email not noticed")
	}
	if missingRequestedClaims(map[string]any{}, []string{"openid"}) {
		t.Error("nothing requested, yet something missing")
	}
}

func TestLimitTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/declared" {
			w.Header().Set("Content-Length", "5000000")
		}
		w.(http.Flusher).Flush()
		_, _ = w.Write([]byte(strings.Repeat("x", 2<<20)))
	}))
	defer srv.Close()
	client := &http.Client{Transport: limitTransport{base: http.DefaultTransport}}
	if _, err := client.Get(srv.URL + "/declared"); err == nil || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Errorf("declared oversize: %v", err)
	}
	resp, err := client.Get(srv.URL + "/streamed")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, errResponseTooLarge) {
		t.Errorf("streamed oversize: %v", err)
	}
}

// TestFromHere: with RP_DISCOVERY_URL, rp calls the endpoints discovery
// names under the issuer (the browsers' address) under the discovery URL,
// and no other endpoint differently.
func TestFromHere(t *testing.T) {
	c := New(Settings{Issuer: "http://localhost:8080/realms/demo", DiscoveryURL: "http://keycloak:8080/realms/demo", ClientID: "x"})
	for in, want := range map[string]string{
		"http://localhost:8080/realms/demo/protocol/openid-connect/revoke": "http://keycloak:8080/realms/demo/protocol/openid-connect/revoke",
		"http://localhost:8080/realms/demo?x=1":                            "http://keycloak:8080/realms/demo?x=1",
		"http://keycloak:8080/realms/demo/protocol/openid-connect/token":   "http://keycloak:8080/realms/demo/protocol/openid-connect/token",
		"http://localhost:8080/realms/demo2/protocol/openid-connect/token": "http://localhost:8080/realms/demo2/protocol/openid-connect/token",
		"http://localhost:8080/realms/other/revoke":                        "http://localhost:8080/realms/other/revoke",
		"https://elsewhere.example/revoke":                                 "https://elsewhere.example/revoke",
		"":                                                                 "",
	} {
		if got := c.fromHere(in); got != want {
			t.Errorf("fromHere(%q) = %q, want %q", in, got, want)
		}
	}
	// A host that merely starts with the issuer's is another host (rp
	// doctor used to send the client secret there).
	if got := FromHere("http://kc", "http://keycloak", "http://kc.evil.net/token"); got != "http://kc.evil.net/token" {
		t.Errorf("FromHere with a host under the issuer's name: %q", got)
	}
	if got := FromHere("http://kc/realms/a", "http://kc/realms/a", "http://kc/realms/a/token"); got != "http://kc/realms/a/token" {
		t.Errorf("FromHere with the discovery URL equal to the issuer: %q", got)
	}
}
