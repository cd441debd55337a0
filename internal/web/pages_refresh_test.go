package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/session/sessiontest"
	"github.com/rp-project/rp/internal/testprovider"
)

// TestRefreshRefusedEndsTheSessionOnRPPages: Keycloak sends no logout
// when an admin disables a user (nor when an admin signs out a user whose
// rp session holds an offline token); the refresh it then refuses is all
// rp learns. rp's own protected pages refresh when due, as proxied
// requests and forward-auth checks do, so an rp without an app behind it
// ends the session too, on every instance; a page whose tokens are not due
// asks the provider nothing.
func TestRefreshRefusedEndsTheSessionOnRPPages(t *testing.T) {
	t.Parallel()
	op := testprovider.New(t, testprovider.Keycloak("demo"))
	shortTokens(op)
	c := newClusterEnv(t, op, sessiontest.Redis(t), 2, nil)
	c.use(0)
	c.login()
	calls := op.Count("token")
	if r := c.browse("/profile"); r.StatusCode != http.StatusOK {
		t.Fatalf("profile after sign-in: %d", r.StatusCode)
	}
	if n := op.Count("token") - calls; n != 0 {
		t.Fatalf("a profile whose tokens are not due made %d token requests", n)
	}

	op.DisableUser("alice")
	untilDue()
	c.use(1)
	if loc := c.expectRedirect(c.browse("/profile"), http.StatusSeeOther); !strings.Contains(loc, "/login?") {
		t.Fatalf("the profile of a disabled user goes to %q, want sign-in", loc)
	}
	if n := op.Count("token") - calls; n != 1 {
		t.Fatalf("%d token requests, want the one refused refresh", n)
	}
	c.use(0)
	for _, page := range []string{"/profile", "/sessions"} {
		if loc := c.expectRedirect(c.browse(page), http.StatusSeeOther); !strings.Contains(loc, "/login?") {
			t.Fatalf("%s on the other instance goes to %q, want sign-in", page, loc)
		}
	}
}
