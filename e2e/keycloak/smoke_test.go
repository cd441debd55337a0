package keycloak

import (
	"net/http"
	"testing"
)

// TestSmoke signs a user in through Keycloak's login form and sees rp's
// profile: the harness works end to end.
func TestSmoke(t *testing.T) {
	kc := needKeycloak(t)
	t.Parallel()
	ln, base := listen(t)
	c := kc.clientFor(t, testRealm, base, nil, nil)
	u := kc.newUser(t, testRealm, "admins")
	r := startRP(t, ln, kc.rpEnv(t, c, base))
	b := newBrowser(t)
	r.SignIn(t, b, u)
	if p := b.Get(t, r.Base+"/profile"); p.Status != http.StatusOK {
		t.Fatalf("%s", p)
	}
	if n := len(kc.sessions(t, u)) + len(kc.offlineSessions(t, u, c)); n == 0 {
		t.Fatalf("Keycloak holds no session of %s after the sign-in", u.Username)
	}
}
