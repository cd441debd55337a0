package web_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/session/sessiontest"
	"github.com/rp-project/rp/internal/testprovider"
)

// shortTokens makes the provider's access and ID tokens live 2 seconds, so
// rp refreshes them 1.5 seconds after they are issued.
func shortTokens(op *testprovider.Provider) {
	op.Set(func(k *testprovider.Knobs) { k.AccessTTL = 2 * time.Second })
}

// untilDue waits until tokens issued now are due for a refresh.
func untilDue() { time.Sleep(1600 * time.Millisecond) }

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func apiGet(h *harness, c *http.Client, target string, header ...string) resp {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.abs(target), nil)
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return h.do(c, req)
}

// TestRefreshOnceUnderConcurrentRequestsAcrossInstances: 50 concurrent
// proxied requests on two instances sharing Redis, all due for a refresh,
// make exactly one refresh call, and every one of them passes the new
// access token to the app.
func TestRefreshOnceUnderConcurrentRequestsAcrossInstances(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	op := testprovider.New(t)
	shortTokens(op)
	op.Set(func(k *testprovider.Knobs) { k.RefreshDelay = 200 * time.Millisecond })
	c := newClusterEnv(t, op, sessiontest.Redis(t), 2, map[string]string{
		"RP_UPSTREAM": a.srv.URL, "RP_PATH_PREFIX": "/_rp", "RP_PASS_ACCESS_TOKEN": "true"})
	c.use(0)
	c.signInVia("/")
	if r := apiGet(c.harness, c.client, "/first"); r.StatusCode != http.StatusOK {
		t.Fatalf("signed in: %d", r.StatusCode)
	}
	first := bearer(a.last(t))
	untilDue()
	tokenCalls := op.Count("token")
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			r := apiGet(c.harness, c.client, "/concurrent/"+strconv.Itoa(i), "X-Test-Instance", strconv.Itoa(i%2))
			if r.StatusCode != http.StatusOK {
				t.Errorf("request %d: %d", i, r.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := op.Count("token") - tokenCalls; n != 1 {
		t.Fatalf("%d refresh calls for one session under 50 concurrent requests on two instances; want 1", n)
	}
	var got []string
	for _, r := range a.requests() {
		if strings.HasPrefix(r.URL.Path, "/concurrent/") {
			got = append(got, bearer(r))
		}
	}
	slices.Sort(got)
	if got = slices.Compact(got); len(got) != 1 || got[0] == first || got[0] == "" {
		t.Fatalf("the app got access tokens %q (first was %q); want the one new token", got, first)
	}
}

// TestRefreshRefusedEndsTheSessionEverywhere: the user signs out at the
// provider (or is disabled): the next refresh is refused with
// invalid_grant, and the session ends on every instance.
func TestRefreshRefusedEndsTheSessionEverywhere(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	op := testprovider.New(t)
	shortTokens(op)
	c := newClusterEnv(t, op, sessiontest.Redis(t), 2, map[string]string{"RP_UPSTREAM": a.srv.URL, "RP_PATH_PREFIX": "/_rp"})
	c.use(0)
	c.signInVia("/")
	op.EndUserSession("alice")
	untilDue()
	if r := apiGet(c.harness, c.client, "/api"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after a refused refresh an API request gets %d, want 401", r.StatusCode)
	}
	c.use(1)
	if loc := c.expectRedirect(c.browse("/page"), http.StatusFound); !strings.Contains(loc, "/_rp/login?") {
		t.Fatalf("on the other instance the browser goes to %q", loc)
	}
	for _, r := range a.requests() {
		if r.URL.Path == "/api" || r.URL.Path == "/page" {
			t.Fatal("a request of the ended session reached the app")
		}
	}
}

// TestRefreshRefusedRevokesTheToken: an admin signs the user out at
// Keycloak, which then refuses the session's offline token as stale but
// keeps the offline session until the token is revoked. rp ends its
// session at the refusal and revokes the token, so that nothing of the
// session outlives it at the provider.
func TestRefreshRefusedRevokesTheToken(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	op := testprovider.New(t)
	shortTokens(op)
	h := newHarnessFor(t, op, withEnv("RP_UPSTREAM", a.srv.URL))
	h.login()
	if n := op.Held("alice"); n != 1 {
		t.Fatalf("the provider holds %d refresh tokens of alice after the sign-in, want 1", n)
	}
	op.StaleTokens("alice")
	untilDue()
	if r := apiGet(h, h.client, "/api"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after a refused refresh an API request gets %d, want 401", r.StatusCode)
	}
	if n := op.Held("alice"); n != 0 || len(op.Revoked()) != 1 {
		t.Fatalf("after the refused refresh the provider holds %d refresh tokens of alice (%d revoked), want the refused one revoked", n, len(op.Revoked()))
	}
}

// TestRefreshWhileTheProviderIsDown: the session goes on with its access
// token, and the instance does not ask the provider on every request.
func TestRefreshWhileTheProviderIsDown(t *testing.T) {
	t.Parallel()
	h, a := newProxy(t, withEnv("RP_PASS_ACCESS_TOKEN", "true"))
	shortTokens(h.op)
	h.signInVia("/")
	untilDue()
	h.op.Set(func(k *testprovider.Knobs) { k.Down = true })
	before := h.op.Count("token")
	for range 3 {
		if r := apiGet(h, h.client, "/api"); r.StatusCode != http.StatusOK {
			t.Fatalf("with the provider down: %d, want the app", r.StatusCode)
		}
	}
	if n := h.op.Count("token") - before; n != 1 {
		t.Fatalf("%d refresh attempts in 3 requests while the provider is down; want 1, then a pause", n)
	}
	if bearer(a.last(t)) == "" {
		t.Fatal("the app lost the access token")
	}
}

// TestRefreshedIDTokenIsChecked: a refreshed ID token naming another sub
// (or otherwise failing Core 12.2's checks) ends the session.
func TestRefreshedIDTokenIsChecked(t *testing.T) {
	t.Parallel()
	for name, edit := range map[string]func(map[string]any){
		"another sub":   func(c map[string]any) { c["sub"] = "mallory" },
		"another nonce": func(c map[string]any) { c["nonce"] = "other" },
		"other aud":     func(c map[string]any) { c["aud"] = []string{"rp-test", "someone-else"}; c["azp"] = "rp-test" },
		"no iat":        func(c map[string]any) { delete(c, "iat") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h, _ := newProxy(t)
			shortTokens(h.op)
			h.signInVia("/")
			h.op.Set(func(k *testprovider.Knobs) { k.RefreshIDTokenClaims = edit })
			untilDue()
			if r := apiGet(h, h.client, "/api"); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("a refreshed ID token with %s: %d, want the session ended (401)", name, r.StatusCode)
			}
			// The provider took the token: rp ends its own session but
			// revokes nothing (Keycloak's revocation would also drop the
			// client from the user's other sessions).
			if n := len(h.op.Revoked()); n != 0 {
				t.Fatalf("a refreshed ID token with %s: %d tokens revoked, want none", name, n)
			}
		})
	}
}

// TestRefreshUpdatesGroups: a group removed at the provider stops counting
// at the next refresh.
func TestRefreshUpdatesGroups(t *testing.T) {
	t.Parallel()
	h, _ := newProxy(t, withEnv("RP_PATH_RULES", "/admin=admins"))
	shortTokens(h.op)
	h.op.Set(func(k *testprovider.Knobs) { k.ExtraIDClaims = map[string]any{"groups": []string{"admins"}} })
	h.signInVia("/")
	if r := h.browse("/admin"); r.StatusCode != http.StatusOK {
		t.Fatalf("admin: %d", r.StatusCode)
	}
	h.op.Set(func(k *testprovider.Knobs) { k.ExtraIDClaims = map[string]any{"groups": []string{}} })
	untilDue()
	if r := h.browse("/admin"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("after the group was removed and tokens refreshed: %d, want 403", r.StatusCode)
	}
}

// TestLogoutRevokesAndSendsACurrentHint: at logout rp revokes the refresh
// token, and an expired ID token is refreshed first so that id_token_hint
// is current.
func TestLogoutRevokesAndSendsACurrentHint(t *testing.T) {
	t.Parallel()
	h, _ := newProxy(t)
	h.op.Set(func(k *testprovider.Knobs) { k.AccessTTL = time.Second })
	h.signInVia("/")
	time.Sleep(1100 * time.Millisecond) // the ID token expires
	csrf := csrfRE.FindStringSubmatch(h.get("/_rp/logout").body)[1]
	end := h.expectRedirect(h.post("/_rp/logout", url.Values{"csrf_token": {csrf}}, map[string]string{"Origin": h.base}), http.StatusSeeOther)
	hint := mustURL(t, end).Query().Get("id_token_hint")
	if exp := jwtExp(t, hint); !exp.After(time.Now()) {
		t.Fatalf("id_token_hint expired at %s: an expired ID token was sent although a refresh was possible", exp)
	}
	revoked := h.op.Revoked()
	if len(revoked) != 1 || !strings.HasPrefix(revoked[0], "rt-") {
		t.Fatalf("revoked at logout: %q; want the session's refresh token", revoked)
	}
	// The revoked refresh token is the session's latest: refreshing with it fails now.
	if h.op.Count("revoke") != 1 {
		t.Fatal("revocation endpoint not called once")
	}
}

func jwtExp(t *testing.T, raw string) time.Time {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct{ Exp int64 }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return time.Unix(c.Exp, 0)
}

// TestNoOfflineAccessWhenNotOffered: a provider that does not advertise
// offline_access and the refresh grant is not asked for them.
func TestNoOfflineAccessWhenNotOffered(t *testing.T) {
	t.Parallel()
	op := testprovider.New(t)
	op.Set(func(k *testprovider.Knobs) { k.NoOffline = true })
	h := newHarnessFor(t, op)
	h.login()
	scopes := op.Scopes()
	if len(scopes) != 1 || scopes[0] != "openid profile email" {
		t.Fatalf("scopes asked: %q", scopes)
	}

	off := testprovider.New(t)
	h2 := newHarnessFor(t, off, withEnv("RP_OFFLINE_ACCESS", "false"))
	h2.login()
	if s := off.Scopes(); len(s) != 1 || strings.Contains(s[0], "offline_access") {
		t.Fatalf("RP_OFFLINE_ACCESS=false still asks for %q", s)
	}
}

// TestRefreshFailuresThatSayNothingOfTheUser: a provider that rate-limits,
// is in maintenance, or refuses rp's own credentials does not end sessions;
// only invalid_grant (TestRefreshRefusedEndsTheSessionEverywhere) does.
func TestRefreshFailuresThatSayNothingOfTheUser(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"invalid_client", "temporarily_unavailable", "too_many_requests", "server_error"} {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			h, a := newProxy(t)
			shortTokens(h.op)
			h.signInVia("/")
			h.op.Set(func(k *testprovider.Knobs) { k.TokenError = code })
			untilDue()
			if r := apiGet(h, h.client, "/api"); r.StatusCode != http.StatusOK {
				t.Fatalf("a refresh answered %s ended the session: %d", code, r.StatusCode)
			}
			if len(a.requests()) == 0 {
				t.Fatal("the request did not reach the app")
			}
		})
	}
}

// TestRefreshDropsClaimsTheProviderNoLongerSends: a groups claim left out
// of the refreshed ID token (as providers do for an emptied list) is gone.
func TestRefreshDropsClaimsTheProviderNoLongerSends(t *testing.T) {
	t.Parallel()
	h, _ := newProxy(t, withEnv("RP_PATH_RULES", "/admin=admins"))
	shortTokens(h.op)
	h.op.Set(func(k *testprovider.Knobs) { k.ExtraIDClaims = map[string]any{"groups": []string{"admins"}} })
	h.signInVia("/")
	h.op.Set(func(k *testprovider.Knobs) { k.ExtraIDClaims = nil })
	untilDue()
	if r := h.browse("/admin"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("after a refresh without the groups claim: %d, want 403", r.StatusCode)
	}
}
