package keycloak

import (
	"net/http"
	"strings"
	"testing"
)

// TestOfflineAccessAndKeycloakSSO records what rp's offline_access
// (RP_OFFLINE_ACCESS=true; off by default since this test) does to Keycloak's SSO session, which the
// docs tell admins. Keycloak 26.1 and later keep only an offline session
// when a sign-in asks for offline_access with no Keycloak session in the
// browser yet: there is then no SSO session, so the next app of the realm
// asks for the password again. With an SSO session already there, rp's
// sign-in passes through it (prompt=consent shows nothing to a client that
// does not require consent), Keycloak keeps both sessions under one id,
// and rp's logout leaves neither.
func TestOfflineAccessAndKeycloakSSO(t *testing.T) {
	kc := needKeycloak(t)
	t.Parallel()

	t.Run("offline first", func(t *testing.T) {
		t.Parallel()
		u := kc.newUser(t, testRealm, "users")
		r1, c1 := startTestRP(t, kc, true, nil, nil)
		r2, c2 := startTestRP(t, kc, true, map[string]string{"RP_SESSION_COOKIE_NAME": "second"}, nil)
		b := newBrowser(t)
		r1.SignIn(t, b, u)
		first := kc.onlySession(t, u, c1, true)
		// No SSO: Keycloak asks for the password again (SignIn fails
		// otherwise), in the same browser, a moment later.
		r2.SignIn(t, b, u)
		if second := kc.onlySession(t, u, c2, true); second == first {
			t.Errorf("both sign-ins share Keycloak session %s", first)
		}
		if s := kc.sessions(t, u); len(s) != 0 {
			t.Errorf("Keycloak lists regular sessions %v", s)
		}
	})

	t.Run("SSO first", func(t *testing.T) {
		t.Parallel()
		u := kc.newUser(t, testRealm, "users")
		app, _ := startTestRP(t, kc, false, map[string]string{"RP_SESSION_COOKIE_NAME": "app"}, nil)
		r, c := startTestRP(t, kc, true, nil, nil)
		b := newBrowser(t)
		app.SignIn(t, b, u)
		// prompt=consent with Keycloak's SSO session: no password, no
		// consent screen.
		if p := b.Last(t, b.Get(t, r.Base+"/login")); p.URL.String() != r.Base+"/" || p.Status != http.StatusOK {
			t.Fatalf("sign-in with offline_access over Keycloak's SSO session ended on %s:\n%s", p, pageText(t, p))
		}
		on, off := kc.clientSessions(t, u, c)
		if len(on) != 1 || len(off) != 1 || on[0].ID != off[0].ID {
			t.Fatalf("Keycloak's sessions for rp: regular %v, offline %v; want one of each, with one id", on, off)
		}
		rpLogout(t, kc, r, b, u, c, on[0].ID, true)
		if p := b.Get(t, app.Base+"/profile"); p.Status != http.StatusSeeOther {
			t.Errorf("the other app after rp's logout: %s, want the way to sign in", p)
		}
		if s := kc.sessions(t, u); len(s) != 0 {
			t.Errorf("Keycloak still lists sessions of %s: %v", u.Username, s)
		}
	})
}

// TestConsentScreen: for a client that requires consent, Keycloak shows its
// consent screen after the password. rp's prompt=consent (Core 11 asks it
// with offline_access) makes Keycloak show it at every sign-in; without
// offline_access, only until the user has consented. Cancelling it gets
// rp's "cancelled or refused" page, from which the user can start again.
func TestConsentScreen(t *testing.T) {
	kc := needKeycloak(t)
	t.Parallel()
	for _, offline := range []bool{true, false} {
		t.Run(offlineName(offline), func(t *testing.T) {
			t.Parallel()
			u := kc.newUser(t, testRealm, "users")
			r, c := startTestRP(t, kc, offline, nil, map[string]any{"consentRequired": true})
			b := newBrowser(t)

			p := b.Last(t, b.Get(t, r.Base+"/login"))
			p = b.Last(t, b.LogIn(t, p, u))
			p = b.Consent(t, p, "cancel")
			if !p.IsRedirect() || !strings.HasPrefix(p.Location(t).String(), r.Base+"/callback?") {
				t.Fatalf("cancelled consent: %s", p)
			}
			p = b.Last(t, p)
			if p.Status != http.StatusForbidden || !strings.Contains(pageText(t, p), "Sign-in was cancelled or refused") {
				t.Fatalf("cancelled consent ended on %s:\n%s", p, pageText(t, p))
			}

			if !signInWithConsent(t, r, b, u) {
				t.Fatal("no consent screen after a cancelled one")
			}
			sid := kc.onlySession(t, u, c, offline)
			rpLogout(t, kc, r, b, u, c, sid, offline)
			if again := signInWithConsent(t, r, b, u); again != offline {
				t.Errorf("consent screen at the sign-in after consenting: %v, want %v (offline_access %v)", again, offline, offline)
			}
		})
	}
}

// signInWithConsent signs u in at r from b's /login, with the password
// when Keycloak asks for it and accepting Keycloak's consent screen when it
// is shown, which it reports.
func signInWithConsent(t *testing.T, r *rpInstance, b *browser, u user) (consent bool) {
	t.Helper()
	p := b.Last(t, b.Get(t, r.Base+"/login"))
	if _, ok := loginForm(p); ok {
		p = b.Last(t, b.LogIn(t, p, u))
	}
	if _, ok := consentForm(p); ok {
		consent = true
		p = b.Last(t, b.Consent(t, p, "accept"))
	}
	if p.URL.String() != r.Base+"/" || p.Status != http.StatusOK {
		t.Fatalf("sign-in ended on %s:\n%s", p, pageText(t, p))
	}
	return consent
}

// TestOfflineAccessRefusedToUser: Keycloak refuses offline tokens to a user
// without the offline_access role (the realm's default roles give it; a
// user a realm file imports without realmRoles has none), and only after
// the password, at the token endpoint. rp then signs in again without
// offline_access: one password, a regular Keycloak session, and a warning
// in rp's log saying what to change.
func TestOfflineAccessRefusedToUser(t *testing.T) {
	kc := needKeycloak(t)
	t.Parallel()
	u := kc.newUser(t, testRealm, "users")
	var role map[string]any
	kc.Admin(t, http.MethodGet, "/"+testRealm+"/roles/default-roles-"+testRealm, nil, &role)
	kc.Admin(t, http.MethodDelete, "/"+testRealm+"/users/"+u.ID+"/role-mappings/realm", []map[string]any{role}, nil)

	r, c := startTestRP(t, kc, true, nil, nil)
	b := newBrowser(t)
	r.SignIn(t, b, u)
	kc.onlySession(t, u, c, false)
	if log := r.Log.String(); !strings.Contains(log, "refused offline_access") || !strings.Contains(log, "RP_OFFLINE_ACCESS=false") {
		t.Errorf("rp's log does not say that offline_access was refused and what to change:\n%s", log)
	}
}
