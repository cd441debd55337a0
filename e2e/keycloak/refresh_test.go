package keycloak

// Fresh tokens against the real Keycloak: rp in proxy mode passes the
// access token to an app (RP_PASS_ACCESS_TOKEN) and refreshes it through
// Keycloak when it is due, for clients with a short access-token lifespan
// (client attribute access.token.lifespan). A token spy on rp's back
// channel (tokenspy_test.go) records every token and revocation request rp
// makes and what Keycloak answers: which refresh token was sent, which was
// issued. Keycloak's own introspection endpoint, admin API and events say
// what it thinks of the tokens.
//
// With RP_OFFLINE_ACCESS=true rp asks for offline_access, and Keycloak
// then issues an offline refresh token (typ Offline) tied to an offline
// session, and lists no regular session for the user; with
// RP_OFFLINE_ACCESS=false (the default) the refresh token (typ Refresh) is tied to the
// user's SSO session. Each scenario runs in both modes.

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/session/sessiontest"
)

// rotationRealm (testdata/rptest-rotation-realm.json) revokes refresh
// tokens: each refresh issues a new one and the one redeemed can never be
// used again (revokeRefreshToken, refreshTokenMaxReuse 0). It saves token
// events, so that a refused reuse would show there.
const rotationRealm = "rptest-rotation"

// refreshMode is one way rp asks for refresh tokens.
type refreshMode struct {
	name    string
	offline bool // RP_OFFLINE_ACCESS
}

var refreshModes = []refreshMode{{"offline", true}, {"online", false}}

// refreshSetup is one rp in proxy mode in front of an app, for a client and
// a user of its own, reaching Keycloak through a token spy.
type refreshSetup struct {
	kc   *keycloak
	c    client
	u    user
	spy  *tokenSpy
	app  *upstreamApp
	env  map[string]string
	r    *rpInstance
	b    *browser
	mode refreshMode
}

// newRefreshSetup registers a client in realm whose access tokens live
// lifespan seconds, with attrs over clientFor's, makes a user, and starts
// rp with env over kc.rpEnv's.
func newRefreshSetup(t *testing.T, kc *keycloak, realm string, lifespan int, mode refreshMode, attrs, env map[string]string) *refreshSetup {
	t.Helper()
	s := &refreshSetup{kc: kc, mode: mode, spy: newTokenSpy(t, kc), app: newUpstreamApp(t), b: newBrowser(t)}
	ln, base := listen(t)
	a := map[string]string{"access.token.lifespan": strconv.Itoa(lifespan)}
	for k, v := range attrs {
		a[k] = v
	}
	s.c = kc.clientFor(t, realm, base, a, nil)
	s.u = kc.newUser(t, realm, "users")
	s.env = kc.rpEnv(t, s.c, base)
	// rp reaches Keycloak by another address than browsers, as in
	// compose (RP_DISCOVERY_URL http://keycloak:8080): the spy's.
	s.env["RP_DISCOVERY_URL"] = s.spy.URL + "/realms/" + realm
	s.env["RP_UPSTREAM"] = s.app.URL
	s.env["RP_PASS_ACCESS_TOKEN"] = "true"
	s.env["RP_OFFLINE_ACCESS"] = strconv.FormatBool(mode.offline)
	for k, v := range env {
		s.env[k] = v
	}
	s.r = startRP(t, ln, s.env)
	return s
}

// signIn signs the user in and checks what Keycloak issued: a refresh
// token of the mode's kind, and the session Keycloak lists for it.
func (s *refreshSetup) signIn(t *testing.T) tokenCall {
	t.Helper()
	s.r.SignIn(t, s.b, s.u)
	si := s.spy.signIn(t)
	typ, want := claims(t, si.IssuedRefreshToken)["typ"], "Refresh"
	if s.mode.offline {
		want = "Offline"
	}
	if typ != want {
		t.Fatalf("RP_OFFLINE_ACCESS=%v: Keycloak issued a refresh token of typ %v (scope %q), want %s", s.mode.offline, typ, si.Scope, want)
	}
	s.wantKeycloakSession(t, true)
	return si
}

// wantKeycloakSession checks that Keycloak lists (or not) the user's
// session with the client: an offline session in offline mode, a regular
// one otherwise.
func (s *refreshSetup) wantKeycloakSession(t *testing.T, want bool) {
	t.Helper()
	var n int
	kind := "regular"
	if s.mode.offline {
		n, kind = len(s.kc.offlineSessions(t, s.u, s.c)), "offline"
	} else {
		n = len(s.kc.sessions(t, s.u))
	}
	if (n > 0) != want {
		w := "none"
		if want {
			w = "one"
		}
		t.Fatalf("Keycloak lists %d %s sessions of %s with the client, want %s", n, kind, s.u.Username, w)
	}
}

// get asks r for path as a browser navigation or, with api, as a script
// (Accept: application/json).
func (s *refreshSetup) get(t *testing.T, r *rpInstance, path string, api bool) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.Base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if api {
		req.Header.Set("Accept", "application/json")
	}
	return s.b.do(t, req)
}

// wantAppGot checks that the app's requests from the from-th on all came
// for the user, with the access token tok.
func (s *refreshSetup) wantAppGot(t *testing.T, from int, tok string) {
	t.Helper()
	hits := s.app.hits(from)
	if len(hits) == 0 {
		t.Fatal("the app received no request")
	}
	for _, h := range hits {
		if h.User != s.u.ID {
			t.Errorf("the app got %s for X-Forwarded-User %q, want %s", h.Path, h.User, s.u.ID)
		}
		if h.Token != tok {
			t.Errorf("the app got %s with access token %s, want %s", h.Path, tokenTag(h.Token), tokenTag(tok))
		}
	}
}

// waitExpired waits until the JWT tok has expired: rp refreshes a quarter
// of a token's life before it expires (its expiry known to the second), so
// then a refresh is surely due. The passing of time cannot be polled.
func waitExpired(t *testing.T, tok string) {
	t.Helper()
	exp, ok := claims(t, tok)["exp"].(float64)
	if !ok {
		t.Fatal("token without exp")
	}
	time.Sleep(time.Until(time.Unix(int64(exp), 0).Add(50 * time.Millisecond)))
}

// lastIssuedRefreshToken is the refresh token of Keycloak's latest answer
// to rp that issued one.
func (s *refreshSetup) lastIssuedRefreshToken(t *testing.T) string {
	t.Helper()
	calls := s.spy.calls("token", "")
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Status == http.StatusOK && calls[i].IssuedRefreshToken != "" {
			return calls[i].IssuedRefreshToken
		}
	}
	t.Fatal("Keycloak issued rp no refresh token")
	return ""
}

// burst sends n requests at once to the app's /app/burst-i through
// instances (in turn), half of them navigations and half scripts', and
// returns a description of each that did not get 200.
func (s *refreshSetup) burst(t *testing.T, n int, instances ...*rpInstance) []string {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for i := range n {
		wg.Go(func() {
			r := instances[i%len(instances)]
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/app/burst-%d", r.Base, i), nil)
			if i/len(instances)%2 == 0 {
				req.Header.Set("Accept", "text/html")
			} else {
				req.Header.Set("Accept", "application/json")
			}
			resp, err := s.b.c.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					bad = append(bad, fmt.Sprintf("%s: %v", req.URL, err))
				} else {
					bad = append(bad, fmt.Sprintf("%s: %s (Location %q)", req.URL, resp.Status, resp.Header.Get("Location")))
				}
			}
		})
	}
	wg.Wait()
	return bad
}

// logOut posts rp's logout form as the browser would, and returns rp's
// answer: the redirect to Keycloak's end_session_endpoint.
func (s *refreshSetup) logOut(t *testing.T) page {
	t.Helper()
	p := s.b.Get(t, s.r.Base+"/logout")
	var csrf string
	for _, f := range forms(p.Body) {
		if v := f.Value("csrf_token"); v != "" {
			csrf = v
		}
	}
	if p.Status != http.StatusOK || csrf == "" {
		t.Fatalf("%s: want the logout page with its form:\n%s", p, p.Body)
	}
	p = s.b.Post(t, s.r.Base+"/logout", url.Values{"csrf_token": {csrf}}, s.r.Origin)
	if !p.IsRedirect() || !strings.HasPrefix(p.Location(t).String(), s.kc.Issuer(s.c.Realm)+"/protocol/openid-connect/logout?") {
		t.Fatalf("%s: want a redirect to Keycloak's end_session_endpoint", p)
	}
	return p
}

// TestKeycloakRefresh: with a 5-second access token, a burst of concurrent
// requests through the proxy once the token has expired makes one refresh
// at Keycloak; every request reaches the app with the new access token,
// which Keycloak's UserInfo accepts, and nobody is signed out.
// Then the user logs out: rp revokes the session's latest refresh token at
// Keycloak's revocation endpoint, and Keycloak shows it revoked: its
// introspection calls that token, and the sign-in's, inactive, it refuses
// to redeem them, and (offline mode) the offline session is gone, all
// before the browser reaches Keycloak's logout.
func TestKeycloakRefresh(t *testing.T) {
	kc := needKeycloak(t)
	t.Parallel()
	for _, mode := range refreshModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			s := newRefreshSetup(t, kc, testRealm, 5, mode, nil, nil)
			si := s.signIn(t)
			if p := s.get(t, s.r, "/app/first", false); p.Status != http.StatusOK {
				t.Fatalf("%s", p)
			}
			s.wantAppGot(t, 0, si.AccessToken)

			waitExpired(t, si.AccessToken)
			seen := s.app.count()
			if bad := s.burst(t, 8, s.r); len(bad) > 0 {
				t.Fatalf("concurrent requests once the access token had expired:\n%s\nrp → Keycloak:%s", strings.Join(bad, "\n"), s.spy.log())
			}
			refreshes := s.spy.refreshes()
			if len(refreshes) != 1 || refreshes[0].Status != http.StatusOK || refreshes[0].RefreshToken != si.IssuedRefreshToken {
				t.Fatalf("rp → Keycloak:%s\nwant one refresh_token grant, with the sign-in's refresh token, answered 200", s.spy.log())
			}
			fresh := refreshes[0].AccessToken
			if fresh == "" || fresh == si.AccessToken {
				t.Fatalf("the refresh issued access token %s (sign-in's %s)", tokenTag(fresh), tokenTag(si.AccessToken))
			}
			s.wantAppGot(t, seen, fresh)
			if exp0, exp1 := claims(t, si.AccessToken)["exp"].(float64), claims(t, fresh)["exp"].(float64); exp1 <= exp0 || time.Unix(int64(exp1), 0).Before(time.Now()) {
				t.Errorf("the refreshed access token expires at %v, the sign-in's at %v: want a later, future expiry", exp1, exp0)
			}
			if !s.kc.accepted(t, s.c.Realm, fresh) {
				t.Errorf("Keycloak's UserInfo refuses the refreshed access token")
			}
			if p := s.get(t, s.r, "/profile", false); p.Status != http.StatusOK || !strings.Contains(p.Body, s.u.Username) {
				t.Errorf("%s after the refresh, want the profile of %s", p, s.u.Username)
			}
			_, tok, ok := storedSession(t, s.r, s.b)
			if !ok || tok.RefreshToken != refreshes[0].IssuedRefreshToken {
				t.Fatalf("rp's store holds (signed in: %v) refresh token %s, want the refresh's %s",
					ok, tokenTag(tok.RefreshToken), tokenTag(refreshes[0].IssuedRefreshToken))
			}
			s.wantKeycloakSession(t, true)

			// Logout. The stored ID token has expired with the access
			// token: rp may refresh once more for a current id_token_hint,
			// then revokes the newest refresh token.
			end := s.logOut(t)
			latest := s.lastIssuedRefreshToken(t)
			revs := s.spy.calls("revoke", "")
			if len(revs) != 1 || revs[0].Token != latest || revs[0].Hint != "refresh_token" || revs[0].Status != http.StatusOK {
				t.Fatalf("rp → Keycloak:%s\nwant one revocation of the latest refresh token %s, hint refresh_token, answered 200", s.spy.log(), tokenTag(latest))
			}
			for _, rt := range []string{latest, si.IssuedRefreshToken} {
				if s.kc.active(t, s.c, rt) {
					t.Errorf("after rp's logout, Keycloak's introspection calls refresh token %s active", tokenTag(rt))
				}
				if status, e := s.kc.redeem(t, s.c, rt); status != http.StatusBadRequest || !strings.HasPrefix(e, "invalid_grant") {
					t.Errorf("after rp's logout, Keycloak answers refresh token %s with %d %s, want 400 invalid_grant", tokenTag(rt), status, e)
				}
			}
			if mode.offline {
				s.wantKeycloakSession(t, false)
			}
			if _, _, ok := storedSession(t, s.r, s.b); ok {
				t.Error("rp's store still holds the session after the logout")
			}
			if p := s.b.Last(t, end); p.Status != http.StatusOK || !strings.HasPrefix(p.URL.String(), s.r.Base+"/logged-out?") {
				t.Errorf("Keycloak's logout ended on %s, want rp's /logged-out", p)
			}
			if n := len(kc.sessions(t, s.u)) + len(kc.offlineSessions(t, s.u, s.c)); n != 0 {
				t.Errorf("Keycloak lists %d sessions of %s after the logout", n, s.u.Username)
			}
		})
	}
}

// TestKeycloakRefreshRefusedAfterAdminLogout: an admin signs the user out
// in Keycloak (POST /users/{id}/logout). The client has no back-channel
// logout URL, so rp learns it only when the session's access token is due:
// Keycloak refuses the refresh (invalid_grant), rp ends the session in its
// store, revokes the refused token, and the browser is sent to sign in,
// where Keycloak asks for the password.
//
// Keycloak's admin logout ends the user's regular sessions, and sends
// back-channel logouts for those only: it keeps offline sessions, sets the
// user's "not before", and refuses every token issued before it ("Stale
// token"). The offline session stays listed until its token is revoked (or
// it expires), which rp does.
func TestKeycloakRefreshRefusedAfterAdminLogout(t *testing.T) {
	kc := needKeycloak(t)
	t.Parallel()
	for _, mode := range refreshModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			s := newRefreshSetup(t, kc, testRealm, 5, mode, map[string]string{"backchannel.logout.url": ""}, nil)
			si := s.signIn(t)
			if p := s.get(t, s.r, "/app/first", false); p.Status != http.StatusOK {
				t.Fatalf("%s", p)
			}
			// Keycloak's "not before" counts whole seconds, and refuses
			// tokens issued before it, not in the same second.
			iat, _ := claims(t, si.IssuedRefreshToken)["iat"].(float64)
			time.Sleep(time.Until(time.Unix(int64(iat)+1, 0)))
			kc.Admin(t, http.MethodPost, "/"+s.c.Realm+"/users/"+s.u.ID+"/logout", nil, nil)
			if n := len(kc.sessions(t, s.u)); n != 0 {
				t.Fatalf("Keycloak lists %d regular sessions of %s after the admin's logout", n, s.u.Username)
			}
			// Nothing told rp: its own pages (which never refresh) still
			// show the user.
			if p := s.get(t, s.r, "/profile", false); p.Status != http.StatusOK || !strings.Contains(p.Body, s.u.Username) {
				t.Fatalf("%s right after the admin's logout, want the profile: did a logout reach rp?", p)
			}

			waitExpired(t, si.AccessToken)
			seen := s.app.count()
			toLogin := s.get(t, s.r, "/app/after?x=1", false)
			if !toLogin.IsRedirect() || toLogin.Location(t).String() != s.r.Base+"/login?return_to="+url.QueryEscape("/app/after?x=1") {
				t.Fatalf("%s once a refresh was due, want a redirect to %s/login coming back to /app/after?x=1\nrp → Keycloak:%s", toLogin, s.r.Base, s.spy.log())
			}
			refreshes := s.spy.refreshes()
			if len(refreshes) != 1 || refreshes[0].Status != http.StatusBadRequest || refreshes[0].Error != "invalid_grant" || refreshes[0].RefreshToken != si.IssuedRefreshToken {
				t.Fatalf("rp → Keycloak:%s\nwant one refresh_token grant with the sign-in's refresh token, refused with invalid_grant", s.spy.log())
			}
			t.Logf("Keycloak refused the refresh: %s (%s)", refreshes[0].Error, refreshes[0].ErrorDescription)
			if n := s.app.count(); n != seen {
				t.Errorf("the app got %d requests after the refused refresh: %+v", n-seen, s.app.hits(seen))
			}
			if _, _, ok := storedSession(t, s.r, s.b); ok {
				t.Fatal("rp's store still holds the session after the refused refresh")
			}
			// rp revoked the refused token, which ends what Keycloak kept:
			// the offline session an admin's logout leaves in place.
			if revs := s.spy.calls("revoke", ""); len(revs) != 1 || revs[0].Token != si.IssuedRefreshToken || revs[0].Status != http.StatusOK {
				t.Errorf("rp → Keycloak:%s\nwant the refused refresh token revoked", s.spy.log())
			}
			s.wantKeycloakSession(t, false)
			if p := s.get(t, s.r, "/profile", false); p.Status == http.StatusOK {
				t.Errorf("%s after the refused refresh, want sign-in", p)
			}
			if p := s.get(t, s.r, "/app/data.json", true); p.Status != http.StatusUnauthorized {
				t.Errorf("%s (a script's request) after the refused refresh, want 401", p)
			}
			// The browser signs in again: Keycloak asks for the password.
			login := s.b.Last(t, toLogin)
			if _, ok := loginForm(login); !ok {
				t.Errorf("sign-in after the refused refresh ended on %s, want Keycloak's login form", login)
			}
			if n := len(s.spy.refreshes()); n != 1 {
				t.Errorf("rp → Keycloak:%s\nwant no refresh after the refused one", s.spy.log())
			}
		})
	}
}

// TestKeycloakRotationTwoInstances: in a realm that rotates refresh tokens
// (each refresh token redeems once), two instances sharing a store (Redis,
// PostgreSQL) serve a steady stream of concurrent requests from one
// browser while its 4-second access token is refreshed several times.
// Every request passes; each refresh redeems the refresh token the
// previous one issued, never one twice (Keycloak's events show no refused
// refresh, and as many refreshes as rp made); afterwards the session works
// on both instances and Keycloak still holds it. Last, the control: the
// sign-in's refresh token, redeemed again, is refused ("Stale token") and
// Keycloak revokes the session's current token with it, so a lost rotated
// token would have ended the session.
func TestKeycloakRotationTwoInstances(t *testing.T) {
	kc := needKeycloak(t)
	t.Parallel()
	const rotations = 3
	for _, v := range []struct {
		store string
		new   func(testing.TB) string
		mode  refreshMode
	}{
		{"redis", sessiontest.Redis, refreshModes[0]},
		{"postgres", sessiontest.Postgres, refreshModes[1]},
	} {
		t.Run(v.store+"/"+v.mode.name, func(t *testing.T) {
			t.Parallel()
			s := newRefreshSetup(t, kc, rotationRealm, 4, v.mode, nil, map[string]string{"RP_SESSION_STORE": v.new(t)})
			lnB, _ := listen(t)
			rB := startReplica(t, lnB, s.env, "B")
			instances := []*rpInstance{s.r, rB}
			si := s.signIn(t)

			// Two browsers' worth of tabs and scripts on each instance,
			// until Keycloak has answered enough refreshes (or something
			// failed).
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var bad []string
			for i := range 4 {
				wg.Go(func() {
					tick := time.NewTicker(40 * time.Millisecond)
					defer tick.Stop()
					for n := 0; ; n++ {
						select {
						case <-stop:
							return
						case <-tick.C:
						}
						r := instances[i%2]
						req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/app/%d/%d", r.Base, i, n), nil)
						req.Header.Set("Accept", []string{"text/html", "application/json"}[i/2])
						resp, err := s.b.c.Do(req)
						if err == nil {
							resp.Body.Close()
						}
						if err != nil || resp.StatusCode != http.StatusOK {
							mu.Lock()
							if err != nil {
								bad = append(bad, fmt.Sprintf("%s: %v", req.URL, err))
							} else {
								bad = append(bad, fmt.Sprintf("%s %s: %s (Location %q)", time.Now().Format("15:04:05.000"), req.URL, resp.Status, resp.Header.Get("Location")))
							}
							mu.Unlock()
							return
						}
					}
				})
			}
			deadline := time.Now().Add(time.Minute)
			for {
				refreshes := s.spy.refreshes()
				mu.Lock()
				failed := len(bad) > 0
				mu.Unlock()
				done := len(refreshes) >= rotations
				for _, r := range refreshes {
					done = done && r.Status == http.StatusOK
				}
				if done || failed || slices.ContainsFunc(refreshes, func(c tokenCall) bool { return c.Status != http.StatusOK }) || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			close(stop)
			wg.Wait()
			if len(bad) > 0 {
				t.Fatalf("requests during the rotations failed:\n%s\nrp → Keycloak:%s", strings.Join(bad, "\n"), s.spy.log())
			}

			refreshes := s.spy.refreshes()
			if len(refreshes) < rotations {
				t.Fatalf("rp → Keycloak:%s\nwant %d refreshes within a minute", s.spy.log(), rotations)
			}
			sent := map[string]bool{}
			prev := si.IssuedRefreshToken
			issued := map[string]bool{si.AccessToken: true}
			for i, r := range refreshes {
				if r.Status != http.StatusOK || r.RefreshToken != prev || sent[r.RefreshToken] || r.IssuedRefreshToken == "" || r.IssuedRefreshToken == r.RefreshToken {
					t.Fatalf("rp → Keycloak:%s\nrefresh %d: want the refresh token the previous answer issued, sent once, answered 200 with a new one", s.spy.log(), i+1)
				}
				sent[r.RefreshToken] = true
				prev = r.IssuedRefreshToken
				issued[r.AccessToken] = true
			}
			// Keycloak's own account: as many refreshes, none refused.
			if ev := kc.events(t, s.c, "REFRESH_TOKEN_ERROR"); len(ev) > 0 {
				t.Errorf("Keycloak's events show refused refreshes: %+v", ev)
			}
			if ev := kc.events(t, s.c, "REFRESH_TOKEN"); len(ev) != len(refreshes) {
				t.Errorf("Keycloak's events show %d refreshes, rp made %d", len(ev), len(refreshes))
			}
			hits := s.app.hits(0)
			for _, h := range hits {
				if !issued[h.Token] || h.User != s.u.ID {
					t.Fatalf("the app got %s for %q with access token %s, not one Keycloak issued to rp", h.Path, h.User, tokenTag(h.Token))
				}
			}
			t.Logf("%d requests through 2 instances, %d refreshes", len(hits), len(refreshes))

			// Still signed in on both, with the newest tokens.
			for _, r := range instances {
				seen := s.app.count()
				if p := s.get(t, r, "/app/after", false); p.Status != http.StatusOK {
					t.Fatalf("%s after the rotations, want 200\nrp → Keycloak:%s", p, s.spy.log())
				}
				latest := s.spy.refreshes()
				s.wantAppGot(t, seen, latest[len(latest)-1].AccessToken)
			}
			_, tok, ok := storedSession(t, s.r, s.b)
			if latest := s.lastIssuedRefreshToken(t); !ok || tok.RefreshToken != latest {
				t.Fatalf("the shared store holds (signed in: %v) refresh token %s, want the latest %s", ok, tokenTag(tok.RefreshToken), tokenTag(latest))
			}
			if !kc.active(t, s.c, tok.RefreshToken) {
				t.Error("Keycloak's introspection calls the session's refresh token inactive")
			}
			s.wantKeycloakSession(t, true)

			// The control: this realm refuses a refresh token redeemed
			// twice, and then revokes the session's current one too: a
			// reuse by rp would have ended the session.
			if status, e := kc.redeem(t, s.c, si.IssuedRefreshToken); status != http.StatusBadRequest || !strings.HasPrefix(e, "invalid_grant") {
				t.Errorf("the sign-in's refresh token, redeemed again: %d %s, want 400 invalid_grant", status, e)
			}
			if kc.active(t, s.c, tok.RefreshToken) {
				t.Error("after a reused refresh token, Keycloak still calls the session's current one active: the control shows nothing")
			}
		})
	}
}
