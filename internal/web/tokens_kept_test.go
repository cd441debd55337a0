package web_test

import (
	"net/http/httptest"
	"testing"
)

// TestAccessTokenKeptOnlyToPass: rp stores the access token only when it
// passes it to the app (RP_PASS_ACCESS_TOKEN); otherwise the session's
// tokens are the ID token (for id_token_hint) and the refresh token, and
// the expiry that decides refreshes.
func TestAccessTokenKeptOnlyToPass(t *testing.T) {
	for _, pass := range []bool{false, true} {
		var opts []option
		if pass {
			opts = append(opts, withEnv("RP_PASS_ACCESS_TOKEN", "true"))
		}
		h := newHarness(t, opts...)
		h.login()
		req := httptest.NewRequest("GET", "/profile", nil)
		req.AddCookie(h.cookie(h.client))
		r, err := h.app.Sessions.Load(req)
		if err != nil {
			t.Fatal(err)
		}
		tok, ok, err := h.app.Sessions.Tokens(r.Context())
		if err != nil || !ok {
			t.Fatalf("tokens: %v %v", ok, err)
		}
		if tok.IDToken == "" || tok.RefreshToken == "" || tok.Expiry.IsZero() || tok.RefreshAt.IsZero() {
			t.Errorf("pass=%v: the session lost what it needs: %+v", pass, tok)
		}
		if kept := tok.AccessToken != ""; kept != pass {
			t.Errorf("RP_PASS_ACCESS_TOKEN=%v: access token kept: %v", pass, kept)
		}
	}
}
