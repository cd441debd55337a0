package keycloak

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestSignInDemoUsers signs the demo realm's users in through Keycloak's
// real login form, to rp in proxy mode in front of an app: the profile
// shows the claims Keycloak sent (the groups mapper's included), the app is
// told who the user is, and the groups decide who passes where, both with
// RP_PATH_RULES and with RP_ALLOWED_GROUPS.
//
// RP_OFFLINE_ACCESS stays at its default (off) here: it changes which session
// Keycloak keeps (TestKeycloakSSOAndOfflineAccess), not what rp is told.
func TestSignInDemoUsers(t *testing.T) {
	kc := needKeycloak(t)
	t.Parallel()
	alice, bob := kc.demoUser(t, "alice"), kc.demoUser(t, "bob")
	if !slices.Contains(alice.Groups, "admins") || slices.Contains(bob.Groups, "admins") || len(bob.Groups) == 0 {
		t.Fatalf("the demo realm should have alice in admins and bob in another group: alice %v, bob %v", alice.Groups, bob.Groups)
	}

	t.Run("path rules", func(t *testing.T) {
		t.Parallel()
		app := newAppStandIn(t)
		r := startDemoRP(t, kc, map[string]string{"RP_UPSTREAM": app.URL, "RP_PATH_RULES": "/admin=admins"})

		t.Run("alice", func(t *testing.T) {
			t.Parallel()
			b := newBrowser(t)
			expectIdentity(t, r, appSaw(t, signInAt(t, r, b, alice.user, "/"), "/"), alice)
			expectProfile(t, b, r, alice)

			// Identity headers sent by the browser never reach the app,
			// in any spelling an app could read as rp's.
			req, _ := http.NewRequest(http.MethodGet, r.Base+"/reports", nil)
			req.Header.Set("X-Forwarded-User", "mallory")
			req.Header.Set("X-Forwarded-Groups", "root")
			req.Header.Set("X_Forwarded_Email", "mallory@example.com")
			expectIdentity(t, r, appSaw(t, b.do(t, req), "/reports"), alice)

			for _, path := range []string{"/admin", "/admin/users"} {
				expectIdentity(t, r, appSaw(t, b.Get(t, r.Base+path), path), alice)
			}
		})

		t.Run("bob", func(t *testing.T) {
			t.Parallel()
			b := newBrowser(t)
			expectIdentity(t, r, appSaw(t, signInAt(t, r, b, bob.user, "/"), "/"), bob)
			expectProfile(t, b, r, bob)
			for _, path := range []string{"/admin", "/admin/users", "/Admin", "/admin;x=1", "//admin"} {
				p := b.Get(t, r.Base+path)
				expectRefused(t, p, bob, `"admins" needed for /admin`)
			}
			for _, seen := range app.For(bob.ID) {
				if strings.HasPrefix(strings.ToLower(strings.TrimLeft(seen.Path, "/")), "admin") {
					t.Errorf("the app got %s for bob", seen.Path)
				}
			}
			// Still welcome elsewhere.
			expectIdentity(t, r, appSaw(t, b.Get(t, r.Base+"/reports"), "/reports"), bob)
		})
	})

	t.Run("allowed groups", func(t *testing.T) {
		t.Parallel()
		app := newAppStandIn(t)
		r := startDemoRP(t, kc, map[string]string{"RP_UPSTREAM": app.URL, "RP_ALLOWED_GROUPS": "admins"})

		t.Run("alice", func(t *testing.T) {
			t.Parallel()
			b := newBrowser(t)
			expectIdentity(t, r, appSaw(t, signInAt(t, r, b, alice.user, "/"), "/"), alice)
		})

		t.Run("bob", func(t *testing.T) {
			t.Parallel()
			b := newBrowser(t)
			// Keycloak signs bob in; rp keeps him out of the whole app.
			p := signInAt(t, r, b, bob.user, "/")
			expectRefused(t, p, bob, `you are not in any of the groups "admins"`)
			expectRefused(t, b.Get(t, r.Base+"/reports"), bob, `"admins"`)
			if n := len(app.For(bob.ID)); n != 0 {
				t.Errorf("the app got %d requests for bob", n)
			}
			// The refusal page's Log out button ends his session, here
			// and at Keycloak, so another account can sign in.
			p = b.Post(t, r.Base+"/logout", url.Values{"csrf_token": {logoutCSRF(t, p)}}, r.Origin)
			if !p.IsRedirect() || !strings.HasPrefix(p.Location(t).String(), kc.Issuer(demoRealmName)+"/protocol/openid-connect/logout?") {
				t.Fatalf("%s: want a redirect to Keycloak's end-session endpoint", p)
			}
			p = b.Last(t, p)
			if p.URL.Path != "/logged-out" || !strings.Contains(p.Body, "signed out here and at your organisation") {
				t.Fatalf("logout ended on %s:\n%s", p, p.Body)
			}
			if p = b.Get(t, r.Base+"/"); p.Status != http.StatusFound || !strings.HasPrefix(p.Header.Get("Location"), r.Base+"/login?") {
				t.Fatalf("after logout %s, want the way to sign in", p)
			}
		})
	})
}

// startDemoRP registers a client of its own in the demo realm for an rp
// with the usual test settings plus extra, and starts that rp.
func startDemoRP(t testing.TB, kc *keycloak, extra map[string]string) *rpInstance {
	t.Helper()
	ln, base := listen(t)
	c := kc.clientFor(t, demoRealmName, base, nil, nil)
	env := kc.rpEnv(t, c, base)
	maps.Copy(env, extra)
	return startRP(t, ln, env)
}

// signInAt is a user's sign-in as it happens: b opens path on r without a
// session, rp sends it through Keycloak's login form (which must ask for
// the password), and back to path. It returns the page path answers then,
// whatever its status.
func signInAt(t testing.TB, r *rpInstance, b *browser, u user, path string) page {
	t.Helper()
	p := b.Get(t, r.Base+path)
	if !p.IsRedirect() || !strings.HasPrefix(p.Location(t).String(), r.Base+"/login?") {
		t.Fatalf("%s: want a redirect to rp's sign-in", p)
	}
	p = b.Last(t, p)
	if _, ok := loginForm(p); !ok {
		t.Fatalf("sign-in: %s is not Keycloak's login form:\n%s", p, p.Body)
	}
	p = b.LogIn(t, p, u)
	if !p.IsRedirect() || !strings.HasPrefix(p.Location(t).String(), r.Base+"/callback?") {
		t.Fatalf("Keycloak's answer to %s's password: %s\n%s", u.Username, p, p.Body)
	}
	hops := b.Follow(t, p)
	last := hops[len(hops)-1]
	if got := last.URL.String(); got != r.Base+path {
		t.Fatalf("sign-in ended on %s, want %s%s", last, r.Base, path)
	}
	return last
}

// expectIdentity checks what the app was told of u in req: the identity
// headers from Keycloak's claims, no access token (RP_PASS_ACCESS_TOKEN is
// off) and no rp session cookie.
func expectIdentity(t testing.TB, r *rpInstance, req appRequest, u demoUser) {
	t.Helper()
	want := map[string]string{
		"X-Forwarded-User":               u.ID,
		"X-Forwarded-Email":              u.Email,
		"X-Forwarded-Preferred-Username": u.Username,
		"X-Forwarded-Groups":             strings.Join(u.Groups, ","),
		"Authorization":                  "",
	}
	for name, v := range want {
		if got := req.Header.Values(name); len(got) > 1 || strings.Join(got, "") != v {
			t.Errorf("app got %s %q for %s, want %q", name, got, req.Path, v)
		}
	}
	for name := range req.Header {
		if k := strings.ToLower(name); k != "x-forwarded-for" && k != "x-forwarded-host" && k != "x-forwarded-proto" &&
			(strings.Contains(k, "forwarded_") || strings.HasPrefix(k, "x_")) {
			t.Errorf("app got %s: %q", name, req.Header.Values(name))
		}
	}
	for _, line := range req.Header.Values("Cookie") {
		if strings.Contains(line, r.Cookie+"=") {
			t.Errorf("app got rp's session cookie: %q", line)
		}
	}
}

// expectProfile checks rp's profile page for u: the claims Keycloak sent,
// the groups mapper's included.
func expectProfile(t testing.TB, b *browser, r *rpInstance, u demoUser) {
	t.Helper()
	p := b.Get(t, r.Base+"/profile")
	if p.Status != http.StatusOK {
		t.Fatalf("%s:\n%s", p, p.Body)
	}
	got := profileClaims(t, p)
	for claim, v := range map[string]string{
		"sub": u.ID, "email": u.Email, "name": u.Name, "preferred_username": u.Username,
		"groups": strings.Join(u.Groups, ", "), "email_verified": "true",
	} {
		if got[claim] != v {
			t.Errorf("profile of %s: claim %s is %q, want %q (claims %v)", u.Username, claim, got[claim], v, got)
		}
	}
}

// expectRefused checks that p is rp's 403 page for u, naming them and
// saying why (reason, as the page shows it).
func expectRefused(t testing.TB, p page, u demoUser, reason string) {
	t.Helper()
	body := pageText(t, p)
	if p.Status != http.StatusForbidden || !strings.Contains(body, "You do not have access") ||
		!strings.Contains(body, "signed in as "+u.Name) || !strings.Contains(body, reason) {
		t.Fatalf("%s: want rp's refusal for %s saying %s, got:\n%s", p, u.Username, reason, p.Body)
	}
}
