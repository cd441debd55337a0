package keycloak

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestRPLogout: the user logs out with rp's Log out button. rp ends its
// session, revokes the refresh token and sends the browser to Keycloak's
// end_session_endpoint with the ID token (and no other token) as hint;
// Keycloak ends its session without asking and comes back to /logged-out
// with the same state. Afterwards the old cookie opens nothing, Keycloak
// lists no session of the user for the client, and signing in asks for the
// password again.
//
// Both ways rp can sign in at Keycloak: with offline_access (rp's default),
// Keycloak keeps only an offline session; without, a regular SSO session,
// which other clients of the realm share (rp's back-channel logout ends
// their sessions too).
func TestRPLogout(t *testing.T) {
	kc := needKeycloak(t)
	t.Parallel()
	for _, offline := range []bool{true, false} {
		t.Run(offlineName(offline), func(t *testing.T) {
			t.Parallel()
			u := kc.newUser(t, testRealm, "users")
			r, c := startTestRP(t, kc, offline, nil, nil)
			b := newBrowser(t)
			r.SignIn(t, b, u)
			sid := kc.onlySession(t, u, c, offline)

			var other *rpInstance
			if !offline {
				// Another app of the realm, signed in by Keycloak's SSO
				// session: no password asked.
				other, _ = startTestRP(t, kc, false, map[string]string{"RP_SESSION_COOKIE_NAME": "other"}, nil)
				if p := b.Last(t, b.Get(t, other.Base+"/login")); p.URL.String() != other.Base+"/" || p.Status != http.StatusOK {
					t.Fatalf("SSO sign-in at a second client ended on %s:\n%s", p, p.Body)
				}
			}

			rpLogout(t, kc, r, b, u, c, sid, offline)

			if other != nil {
				// Keycloak's SSO session ended, and its back-channel
				// logout ended the other app's session.
				if p := b.Get(t, other.Base+"/profile"); p.Status != http.StatusSeeOther {
					t.Errorf("the other app after the logout: %s, want the way to sign in", p)
				}
			}
			// Keycloak's session is gone: the next sign-in asks for the
			// password (SignIn fails otherwise).
			r.SignIn(t, b, u)
		})
	}
}

// rpLogout logs b out of r (whose user u is signed in at Keycloak's session
// sid for client c) with the profile page's Log out button, follows it
// through Keycloak and checks every step.
func rpLogout(t *testing.T, kc *keycloak, r *rpInstance, b *browser, u user, c client, sid string, offline bool) {
	t.Helper()
	old := b.Cookie(r.Base+"/", r.Cookie)
	profile := b.Get(t, r.Base+"/profile")
	if profile.Status != http.StatusOK {
		t.Fatalf("%s", profile)
	}
	p := b.Post(t, r.Base+"/logout", url.Values{"csrf_token": {logoutCSRF(t, profile)}}, r.Origin)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("%s: want 303 to Keycloak:\n%s", p, p.Body)
	}
	end := p.Location(t)
	checkEndSessionURL(t, kc, r, c, u, end, sid)
	state := end.Query().Get("state")

	// rp's session is gone before the browser reaches Keycloak: the old
	// cookie opens nothing, in this browser or another.
	thief := newBrowser(t)
	thief.c.Jar.SetCookies(mustParse(t, r.Base+"/"), []*http.Cookie{{Name: r.Cookie, Value: old, Path: "/"}})
	if p := thief.Get(t, r.Base+"/profile"); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/login?") {
		t.Errorf("the old session cookie after the logout: %s, want the way to sign in", p)
	}
	if offline {
		// The refresh token rp revoked was the offline session's: it is
		// gone before the browser reaches Keycloak.
		if _, off := kc.clientSessions(t, u, c); len(off) != 0 {
			t.Errorf("the offline session outlived rp's revocation of its token: %v", off)
		}
	}

	// Keycloak ends its session without a confirmation page (rp sends a
	// valid id_token_hint) and comes back to /logged-out with the state.
	p = b.Get(t, end.String())
	if !p.IsRedirect() {
		t.Fatalf("Keycloak's end-session endpoint answered %s, want a redirect back to rp:\n%s", p, pageText(t, p))
	}
	back := p.Location(t)
	if back.Scheme+"://"+back.Host+back.Path != r.Base+"/logged-out" || back.Query().Get("state") != state {
		t.Fatalf("Keycloak sent the browser to %s, want %s/logged-out?state=%s", back, r.Base, state)
	}
	p = b.Get(t, back.String())
	if p.Status != http.StatusOK || !strings.Contains(pageText(t, p), "You are signed out here and at your organisation's sign-in service.") {
		t.Fatalf("%s:\n%s", p, pageText(t, p))
	}
	if p := b.Get(t, r.Base+"/profile"); p.Status != http.StatusSeeOther {
		t.Errorf("/profile after the logout: %s, want the way to sign in", p)
	}
	if on, off := kc.clientSessions(t, u, c); len(on)+len(off) != 0 {
		t.Errorf("Keycloak still holds sessions of %s for %s after the logout: regular %v, offline %v", u.Username, c.ClientID, on, off)
	}
}

// checkEndSessionURL checks the URL rp sent the browser to at logout:
// Keycloak's end_session_endpoint with exactly id_token_hint, client_id,
// post_logout_redirect_uri and state, the hint being the ID token of u's
// session sid at Keycloak (not the access or refresh token: Keycloak's
// tokens say which they are in typ).
func checkEndSessionURL(t testing.TB, kc *keycloak, r *rpInstance, c client, u user, end *url.URL, sid string) {
	t.Helper()
	want := kc.endSessionEndpoint(t, c.Realm)
	if end.Scheme != want.Scheme || end.Host != want.Host || end.Path != want.Path {
		t.Fatalf("logout sent the browser to %s, want Keycloak's end_session_endpoint %s", end, want)
	}
	q := end.Query()
	if keys := slices.Sorted(maps.Keys(q)); !slices.Equal(keys, []string{"client_id", "id_token_hint", "post_logout_redirect_uri", "state"}) {
		t.Errorf("end-session parameters %q, want client_id, id_token_hint, post_logout_redirect_uri and state", keys)
	}
	for k, v := range q {
		if len(v) != 1 {
			t.Errorf("end-session parameter %s sent %d times", k, len(v))
		}
	}
	if q.Get("client_id") != c.ClientID || q.Get("post_logout_redirect_uri") != r.Base+"/logged-out" || len(q.Get("state")) < 20 {
		t.Errorf("end-session client_id %q, post_logout_redirect_uri %q, state %q", q.Get("client_id"), q.Get("post_logout_redirect_uri"), q.Get("state"))
	}
	hint := claims(t, q.Get("id_token_hint"))
	if hint["typ"] != "ID" || hint["azp"] != c.ClientID || hint["sub"] != u.ID || hint["iss"] != kc.Issuer(c.Realm) {
		t.Errorf("id_token_hint: typ %v, azp %v, sub %v, iss %v; want Keycloak's ID token for %s", hint["typ"], hint["azp"], hint["sub"], hint["iss"], u.Username)
	}
	if aud, _ := hint["aud"].(string); aud != c.ClientID {
		t.Errorf("id_token_hint aud %v, want %s", hint["aud"], c.ClientID)
	}
	if hint["sid"] != sid {
		t.Errorf("id_token_hint sid %v, Keycloak's session %s", hint["sid"], sid)
	}
}

// onlySession checks that Keycloak holds one session of u with client c,
// offline or regular as asked (and none of the other kind), and returns
// its id.
func (k *keycloak) onlySession(t testing.TB, u user, c client, offline bool) string {
	t.Helper()
	on, off := k.clientSessions(t, u, c)
	want, other := on, off
	if offline {
		want, other = off, on
	}
	if len(want) != 1 || len(other) != 0 {
		t.Fatalf("Keycloak's sessions of %s for %s after sign-in (offline_access %v): regular %v, offline %v; want one %s session",
			u.Username, c.ClientID, offline, on, off, offlineName(offline))
	}
	return want[0].ID
}

// startTestRP registers a client in realm rptest (with clientOver merged
// into its representation) and starts an rp for it, asking for
// offline_access or not, with extra settings.
func startTestRP(t testing.TB, kc *keycloak, offline bool, extra map[string]string, clientOver map[string]any) (*rpInstance, client) {
	t.Helper()
	ln, base := listen(t)
	c := kc.clientFor(t, testRealm, base, nil, clientOver)
	env := kc.rpEnv(t, c, base)
	env["RP_OFFLINE_ACCESS"] = "false"
	if offline {
		env["RP_OFFLINE_ACCESS"] = "true"
	}
	maps.Copy(env, extra)
	return startRP(t, ln, env), c
}

func offlineName(offline bool) string {
	if offline {
		return "offline"
	}
	return "regular"
}

func mustParse(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
