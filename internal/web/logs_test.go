package web_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/rp-project/rp/internal/testprovider"
)

// syncBuffer is a bytes.Buffer safe for the log's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoSecretInTheLog runs sign-in, proxied requests, a refresh, the
// logouts of every kind and error paths with debug logging, records every
// secret value used on the way (codes, states, nonces, tokens, cookies,
// the client secret, id_token_hint), and searches every log line for each.
func TestNoSecretInTheLog(t *testing.T) {
	var logs syncBuffer
	h, a := newProxy(t, withLogs(&logs), withEnv("RP_PASS_ACCESS_TOKEN", "true"), withEnv("RP_LOG_LEVEL", "debug"))
	shortTokens(h.op)
	secrets := map[string]string{"client secret": h.op.ClientSecret}
	var mu sync.Mutex
	h.op.Set(func(k *testprovider.Knobs) {
		k.Seen = func(r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			_ = r.ParseForm()
			for _, name := range []string{"code", "state", "nonce", "code_verifier", "refresh_token", "token", "code_challenge", "id_token_hint"} {
				if v := r.Form.Get(name); len(v) > 8 {
					secrets[name+" sent to the provider"] = v
				}
			}
		}
	})
	// Sign in, noting what the callback carried.
	login := h.expectRedirect(h.browse("/app?q=1"), http.StatusFound)
	authURL := h.expectRedirect(h.get(login), http.StatusSeeOther)
	callback := h.expectRedirect(h.get(authURL), http.StatusFound)
	for k, v := range mustURL(t, callback).Query() {
		if k != "iss" { // the issuer is public
			secrets["callback "+k] = v[0]
		}
	}
	h.expectRedirect(h.get(callback), http.StatusSeeOther)
	secrets["session cookie"] = h.cookie(h.client).Value
	h.get("/app") // proxied, with the access token
	secrets["access token"] = bearer(a.last(t))
	untilDue()
	h.get("/app") // refresh
	secrets["refreshed access token"] = bearer(a.last(t))

	// Errors: a forged callback, a replayed one, a bad logout token.
	h.get("/_rp/callback?state=forged-state-value-123&code=forged-code-value-123")
	h.get(callback)
	bad := h.op.LogoutToken(h.op.LogoutClaims("alice", "x"), testprovider.TokenHeader{Alg: "none", None: true})
	secrets["refused logout token"] = bad
	h.post("/_rp/backchannel-logout", url.Values{"logout_token": {bad}}, nil)

	// RP-initiated logout: the end-session URL carries id_token_hint.
	csrf := csrfRE.FindStringSubmatch(h.get("/_rp/logout").body)[1]
	secrets["csrf token"] = csrf
	end := h.expectRedirect(h.post("/_rp/logout", url.Values{"csrf_token": {csrf}}, map[string]string{"Origin": h.base}), http.StatusSeeOther)
	secrets["id_token_hint"] = mustURL(t, end).Query().Get("id_token_hint")
	secrets["logout state"] = mustURL(t, end).Query().Get("state")
	for _, rt := range h.op.Revoked() {
		secrets["revoked refresh token"] = rt
	}

	// A back-channel logout of a second session.
	h.client = newBrowser(t)
	h.signInVia("/")
	good := h.op.LogoutToken(h.op.LogoutClaims("alice", ""), testprovider.TokenHeader{})
	secrets["logout token"] = good
	h.post("/_rp/backchannel-logout", url.Values{"logout_token": {good}}, nil)

	out := logs.String()
	if !strings.Contains(out, `msg=request`) || !strings.Contains(out, "level=DEBUG") {
		t.Fatalf("the log was not captured at debug level: %.500s", out)
	}
	for name, v := range secrets {
		if v == "" {
			t.Errorf("%s: not captured, the test proves nothing for it", name)
			continue
		}
		// JWTs: their signature part alone is secret enough to look for.
		needle := v
		if parts := strings.Split(v, "."); len(parts) == 3 && len(parts[2]) > 16 {
			needle = parts[2]
		}
		if strings.Contains(out, needle) {
			t.Errorf("the log holds the %s", name)
		}
	}
	t.Logf("searched %d secrets in %d log bytes", len(secrets), len(out))
}
