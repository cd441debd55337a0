package web_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/app"
	"github.com/rp-project/rp/internal/config"
	"github.com/rp-project/rp/internal/session/sessiontest"
	"github.com/rp-project/rp/internal/testprovider"
)

// cluster is several rp instances on one store behind one address, like
// a load balancer; use(i) sends the next requests to instance i.
type cluster struct {
	*harness
	apps []*app.App
	next atomic.Int32
}

func newCluster(t *testing.T, store string, n int) *cluster {
	t.Helper()
	return newClusterEnv(t, testprovider.New(t), store, n, nil)
}

// newClusterEnv is newCluster with more settings. A request carrying
// X-Test-Instance: i goes to instance i whatever use said.
func newClusterEnv(t *testing.T, op *testprovider.Provider, store string, n int, extra map[string]string) *cluster {
	t.Helper()
	each := make([]map[string]string, n)
	for i := range each {
		each[i] = extra
	}
	return newClusterOf(t, op, store, each...)
}

// newClusterOf is a cluster with one instance per element of each, with
// those settings added to the common ones.
func newClusterOf(t *testing.T, op *testprovider.Provider, store string, each ...map[string]string) *cluster {
	t.Helper()
	return newClusterLogged(t, op, store, nil, each...)
}

// newClusterLogged is newClusterOf whose instances also write their log
// (debug level) to logs, when it is not nil.
func newClusterLogged(t *testing.T, op *testprovider.Provider, store string, logs io.Writer, each ...map[string]string) *cluster {
	t.Helper()
	logger := testLogger(t)
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	front := httptest.NewUnstartedServer(nil)
	base := "http://" + front.Listener.Addr().String()
	env := map[string]string{"RP_ISSUER": op.Issuer, "RP_CLIENT_ID": op.ClientID, "RP_CLIENT_SECRET": op.ClientSecret,
		"RP_BASE_URL": base, "RP_SESSION_STORE": store, "RP_SESSION_STORE_TIMEOUT": "1s"}
	c := &cluster{}
	for _, extra := range each {
		own := maps.Clone(env)
		maps.Copy(own, extra)
		cfg, err := config.Load(nil, func(k string) string { return own[k] }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.New(context.Background(), cfg, app.Options{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		if err := a.OIDC.Discover(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.apps = append(c.apps, a)
	}
	if len(each) > 0 {
		maps.Copy(env, each[0])
	}
	front.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(c.next.Load())
		if v := r.Header.Get("X-Test-Instance"); v != "" {
			i, _ = strconv.Atoi(v)
		}
		c.apps[i].Handler.ServeHTTP(w, r)
	})
	front.Start()
	t.Cleanup(front.Close)
	c.harness = &harness{t: t, op: op, app: c.apps[0], srv: front, base: base, client: newBrowser(t), env: env}
	return c
}

func (c *cluster) use(i int) { c.next.Store(int32(i)) }

// TestTwoInstancesShareSessionsAndLogouts: sign in through one instance,
// use the other; a back-channel logout delivered to one ends the session
// on the other before its next request; a replay to either is refused.
func TestTwoInstancesShareSessionsAndLogouts(t *testing.T) {
	for _, st := range sessiontest.Shared(t) {
		t.Run(st.Name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, st.New(t), 2)
			c.use(0)
			alice := c.loginAs("alice", "sid-1")
			other := c.loginAs("alice", "sid-2")
			c.use(1)
			if !c.signedIn(alice) {
				t.Fatal("a session made on instance 0 is unknown to instance 1")
			}
			if _, ids := c.sessionsPage(alice); len(ids) != 1 {
				t.Fatalf("instance 1 lists %d other sessions of alice, want 1", len(ids))
			}

			tok := c.op.LogoutToken(c.op.LogoutClaims("alice", "sid-1"), testprovider.TokenHeader{})
			wantLogoutOK(t, c.sendLogoutToken(tok)) // delivered to instance 1
			c.use(0)
			if c.signedIn(alice) {
				t.Fatal("a back-channel logout delivered to instance 1 did not end the session on instance 0")
			}
			if !c.signedIn(other) {
				t.Fatal("another session ended")
			}
			wantLogoutError(t, c.sendLogoutToken(tok), http.StatusBadRequest, "invalid_request", tok)
			c.use(1)
			wantLogoutError(t, c.sendLogoutToken(tok), http.StatusBadRequest, "invalid_request", tok)

			// Logout through one instance is logout on all.
			c.client = other
			csrf := c.csrfOf(other)
			c.use(0)
			r := c.postWith(other, "/logout", map[string][]string{"csrf_token": {csrf}})
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("POST /logout: %d", r.StatusCode)
			}
			c.use(1)
			if c.signedIn(other) {
				t.Fatal("a logout on instance 0 left the session alive on instance 1")
			}
		})
	}
}

// TestStoreStoppedAndRestarted: the shared store goes away under a running
// rp and comes back. Meanwhile pages are 503 and /readyz says why; nothing
// crashes; afterwards the session is still there.
func TestStoreStoppedAndRestarted(t *testing.T) {
	for _, st := range sessiontest.Shared(t) {
		t.Run(st.Name, func(t *testing.T) {
			t.Parallel()
			spec := st.New(t)
			proxy := sessiontest.NewProxy(t, sessiontest.Host(t, spec))
			c := newCluster(t, sessiontest.WithHost(t, spec, proxy.Addr()), 1)
			alice := c.loginAs("alice", "sid-1")

			proxy.Down()
			r := c.getWith(alice, "/profile")
			if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.body, "Sessions cannot be read or saved") {
				t.Fatalf("/profile with the store down: %d", r.StatusCode)
			}
			r = c.get("/readyz")
			if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.body, `"store":"unreachable"`) {
				t.Fatalf("/readyz with the store down: %d %s", r.StatusCode, r.body)
			}
			tok := c.op.LogoutToken(c.op.LogoutClaims("alice", "sid-1"), testprovider.TokenHeader{})
			wantLogoutError(t, c.sendLogoutToken(tok), http.StatusServiceUnavailable, "temporarily_unavailable", tok)

			proxy.Up()
			deadline := time.Now().Add(15 * time.Second)
			for c.get("/readyz").StatusCode != http.StatusOK {
				if time.Now().After(deadline) {
					t.Fatal("rp did not recover when the store came back")
				}
				time.Sleep(100 * time.Millisecond)
			}
			if !c.signedIn(alice) {
				t.Fatal("the session was lost in the outage")
			}
			// The provider's retry of the refused delivery now works.
			wantLogoutOK(t, c.sendLogoutToken(tok))
			if c.signedIn(alice) {
				t.Fatal("still signed in")
			}
		})
	}
}
