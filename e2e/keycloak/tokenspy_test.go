package keycloak

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// tokenSpy stands between rp and Keycloak on rp's back channel, as
// compose's RP_DISCOVERY_URL (http://keycloak:8080) does: rp fetches
// discovery from the spy, and Keycloak (KC_HOSTNAME_BACKCHANNEL_DYNAMIC)
// answers with token, revocation and JWKS endpoints at the address it was
// asked at, the spy's. The spy passes every request on unchanged and
// records the token and revocation requests and Keycloak's answers: what
// Keycloak saw, the refresh tokens sent and issued among it.
type tokenSpy struct {
	URL string // http://127.0.0.1:PORT, to put in RP_DISCOVERY_URL as URL+"/realms/"+realm
	mu  sync.Mutex
	ev  []tokenCall
}

// tokenCall is one token or revocation request rp made, with Keycloak's
// answer.
type tokenCall struct {
	At       time.Time
	Endpoint string // "token" or "revoke"
	Status   int
	// The request.
	GrantType    string // token: authorization_code, refresh_token
	RefreshToken string // token: the refresh token redeemed
	Token        string // revoke: the token revoked
	Hint         string // revoke: token_type_hint
	// Keycloak's answer (token).
	AccessToken, IssuedRefreshToken, IDToken string
	ExpiresIn                                int
	Scope                                    string
	Error, ErrorDescription                  string
}

func (c tokenCall) String() string {
	s := fmt.Sprintf("%s %s", c.At.Format("15:04:05.000"), c.Endpoint)
	if c.GrantType != "" {
		s += " " + c.GrantType
	}
	if c.RefreshToken != "" {
		s += " rt=" + tokenTag(c.RefreshToken)
	}
	if c.Token != "" {
		s += " token=" + tokenTag(c.Token) + " hint=" + c.Hint
	}
	s += fmt.Sprintf(" → %d", c.Status)
	if c.IssuedRefreshToken != "" {
		s += " new rt=" + tokenTag(c.IssuedRefreshToken)
	}
	if c.Error != "" {
		s += " " + c.Error + " (" + c.ErrorDescription + ")"
	}
	return s
}

// tokenTag names a JWT by the end of its signature, for messages.
func tokenTag(tok string) string {
	if len(tok) > 8 {
		return "…" + tok[len(tok)-8:]
	}
	return tok
}

// newTokenSpy starts a spy in front of k until the test ends.
func newTokenSpy(t testing.TB, k *keycloak) *tokenSpy {
	t.Helper()
	target, err := url.Parse(k.Direct)
	if err != nil {
		t.Fatal(err)
	}
	s := &tokenSpy{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // Keycloak names its back-channel endpoints after it
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var endpoint string
		switch {
		case strings.HasSuffix(r.URL.Path, "/protocol/openid-connect/token"):
			endpoint = "token"
		case strings.HasSuffix(r.URL.Path, "/protocol/openid-connect/revoke"):
			endpoint = "revoke"
		default:
			rp.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(rec, r)
		c := tokenCall{At: time.Now(), Endpoint: endpoint, Status: rec.status,
			GrantType: form.Get("grant_type"), RefreshToken: form.Get("refresh_token"),
			Token: form.Get("token"), Hint: form.Get("token_type_hint")}
		var answer struct {
			AccessToken      string `json:"access_token"`
			RefreshToken     string `json:"refresh_token"`
			IDToken          string `json:"id_token"`
			ExpiresIn        int    `json:"expires_in"`
			Scope            string `json:"scope"`
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		if json.Unmarshal(rec.body.Bytes(), &answer) == nil {
			c.AccessToken, c.IssuedRefreshToken, c.IDToken = answer.AccessToken, answer.RefreshToken, answer.IDToken
			c.ExpiresIn, c.Scope, c.Error, c.ErrorDescription = answer.ExpiresIn, answer.Scope, answer.Error, answer.ErrorDescription
		}
		s.mu.Lock()
		s.ev = append(s.ev, c)
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// recorder passes a response on and keeps a copy of its body.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// calls returns the recorded calls to endpoint ("token" or "revoke") and,
// for the token endpoint, of grantType ("" for any).
func (s *tokenSpy) calls(endpoint, grantType string) []tokenCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tokenCall
	for _, c := range s.ev {
		if c.Endpoint == endpoint && (grantType == "" || c.GrantType == grantType) {
			out = append(out, c)
		}
	}
	return out
}

// refreshes are the refresh_token grants rp made.
func (s *tokenSpy) refreshes() []tokenCall { return s.calls("token", "refresh_token") }

// signIn is the one authorization_code grant of the sign-in; it fails the
// test unless there is exactly one and it issued a refresh token.
func (s *tokenSpy) signIn(t testing.TB) tokenCall {
	t.Helper()
	codes := s.calls("token", "authorization_code")
	if len(codes) != 1 || codes[0].Status != http.StatusOK || codes[0].IssuedRefreshToken == "" || codes[0].AccessToken == "" {
		t.Fatalf("Keycloak answered rp's code grants %v, want one that issued an access and a refresh token", codes)
	}
	return codes[0]
}

// log is every call, one a line, for failure messages.
func (s *tokenSpy) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, c := range s.ev {
		b.WriteString("\n  " + c.String())
	}
	return b.String()
}
