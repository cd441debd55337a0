//go:build linux

package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/app/apptest"
	"github.com/rp-project/rp/internal/session"
	"github.com/rp-project/rp/internal/session/sessiontest"
	"github.com/rp-project/rp/internal/testprovider"
)

// The bounds of the load and fault test.
const (
	faultClients    = 64
	faultPerClient  = 150 // requests per client: 9,600 in all
	faultTriggerAt  = 30  // the fault starts once clients have made this many requests each, on average
	faultGateAt     = 110 // a client's requests from this one on wait until both instances are ready again
	faultThink      = 40 * time.Millisecond
	faultOutage     = 1500 * time.Millisecond // the store is down at least this long
	faultMargin     = 2 * time.Second         // 503s still allowed this long after an instance's /readyz is 200 again
	faultDeadline   = 90 * time.Second        // the whole load, fault included
	storeDownPage   = "Sessions cannot be read or saved"
	faultUserPrefix = "fault-user-"
)

// TestFaultStoreRestartAndKeyRotationUnderLoad runs two rp instances on a
// Redis (append-only file) or a PostgreSQL server of the test's own, in
// proxy mode. 64 clients, each signed in with a session of its own, make
// 9,600 authenticated requests together, alternating instances as a
// round-robin balancer would. A fifth of the way in, the store stops for
// 1.5 s and starts again while the provider rotates its signing key
// without keeping the old one. Every answer must be 200 with the client's
// own identity, or the store-down page (503) while the store is down and
// shortly after; a sign-in and a back-channel logout during the outage get
// 503; after it, new sign-ins (ID tokens signed with the new key) and
// back-channel logouts signed with the new key work on both instances,
// every client gets through again, and no session is lost.
func TestFaultStoreRestartAndKeyRotationUnderLoad(t *testing.T) {
	for _, store := range []struct {
		name  string
		start func(testing.TB) *sessiontest.Server
	}{
		{"redis", sessiontest.StartRedis},
		{"postgres", sessiontest.StartPostgres},
	} {
		t.Run(store.name, func(t *testing.T) {
			runFault(t, store.start(t))
		})
	}
}

// faultRig is the deployment under test: one provider, one store, two rp
// instances in front of one app.
type faultRig struct {
	op    *testprovider.Provider
	bases [2]string
	logs  *lockedBuffer // rp's warnings and errors, shown when the test fails

	signInMu sync.Mutex // the provider's subject is a knob: one sign-in at a time
}

func newFaultRig(t *testing.T, store *sessiontest.Server) *faultRig {
	op := testprovider.New(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s email=%s", r.Header.Get("X-Forwarded-User"), r.Header.Get("X-Forwarded-Email"))
	}))
	t.Cleanup(upstream.Close)
	rig := &faultRig{op: op, logs: &lockedBuffer{}}
	// Per-request lines would be 10,000 of them: rp logs at WARN here.
	logger := slog.New(slog.NewTextHandler(rig.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	session.LogRedisTo(logger)                    // as cmd/rp does: go-redis's failed dials in rp's log, not on stderr
	t.Cleanup(func() { session.LogRedisTo(nil) }) // the test's logger ends with it
	for i := range rig.bases {
		// Both on 127.0.0.1: a cookie belongs to a host, not a port, so
		// a client's cookie reaches both instances, as it would reach
		// both through one balancer.
		ln, base := apptest.Listen(t, "127.0.0.1")
		apptest.Serve(t, ln, map[string]string{
			"RP_ISSUER": op.Issuer, "RP_CLIENT_ID": op.ClientID, "RP_CLIENT_SECRET": op.ClientSecret,
			"RP_BASE_URL": base, "RP_SESSION_STORE": store.Spec, "RP_UPSTREAM": upstream.URL,
		}, logger)
		rig.bases[i] = base
	}
	t.Cleanup(func() {
		if t.Failed() {
			l := rig.logs.String()
			if len(l) > 20000 {
				l = "...\n" + l[len(l)-20000:]
			}
			t.Logf("rp's log (WARN and above):\n%s", l)
		}
	})
	return rig
}

// newClient is a browser of its own: a cookie jar and its own connections.
// It does not follow redirects: a redirect to sign-in is an answer to see.
func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:           jar,
		Timeout:       20 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// signIn signs a new browser in on instance i as sub with the provider
// session sid, through the provider and back to the app, and returns it.
func (r *faultRig) signIn(sub, sid string, i int) (*http.Client, error) {
	r.signInMu.Lock()
	defer r.signInMu.Unlock()
	r.op.Set(func(k *testprovider.Knobs) { k.Subject, k.SID = sub, sid })
	c := newClient()
	target := r.bases[i] + "/login?return_to=%2Fwhoami"
	for range 5 {
		resp, err := c.Get(target)
		if err != nil {
			return nil, fmt.Errorf("sign-in of %s on instance %d: %w", sub, i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode/100 != 3 || loc == "" {
			want := "user=" + sub + " email=" + sub + "@example.com"
			if resp.StatusCode != http.StatusOK || string(body) != want {
				return nil, fmt.Errorf("sign-in of %s on instance %d ended at %s with %d %.200q, want 200 %q",
					sub, i, resp.Request.URL.Path, resp.StatusCode, body, want)
			}
			return c, nil
		}
		next, err := resp.Request.URL.Parse(loc)
		if err != nil {
			return nil, err
		}
		target = next.String()
	}
	return nil, fmt.Errorf("sign-in of %s on instance %d: too many redirects", sub, i)
}

// whoami asks instance i for the app's page as c: nil when the answer is
// 200 with sub's identity.
func (r *faultRig) whoami(c *http.Client, sub string, i int) error {
	resp, err := c.Get(r.bases[i] + "/whoami")
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "user=" + sub + " email=" + sub + "@example.com"; resp.StatusCode != http.StatusOK || string(body) != want {
		return fmt.Errorf("instance %d answered %s with %d %.200q, want 200 %q", i, sub, resp.StatusCode, body, want)
	}
	return nil
}

// signedOut checks that instance i no longer knows c's session: the app's
// page answers 401 (not a navigation, so no redirect).
func (r *faultRig) signedOut(c *http.Client, i int) error {
	resp, err := c.Get(r.bases[i] + "/whoami")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("instance %d answered %d, want 401 (signed out)", i, resp.StatusCode)
	}
	return nil
}

// backchannel posts a logout token to instance i as the provider does.
func (r *faultRig) backchannel(token string, i int) (int, string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.PostForm(r.bases[i]+"/backchannel-logout", url.Values{"logout_token": {token}})
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// waitReadyz polls instance i's /readyz until it answers want, and
// returns when it did.
func (r *faultRig) waitReadyz(i, want int, body string) (time.Time, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, b, err := readyz(r.bases[i])
		if err == nil && status == want && strings.Contains(b, body) {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("instance %d: /readyz did not answer %d %s within 30s (last: %d %s %v)", i, want, body, status, b, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answer is one request of the load and what came back.
type answer struct {
	client, instance int
	start, end       time.Time
	storeDown        bool   // the store-down page
	failure          string // anything but 200 with the right identity or the store-down page
}

// loadResult gathers the answers of every client.
type loadResult struct {
	mu      sync.Mutex
	total   int
	ok      int
	down    []answer // store-down pages, judged against the fault's times at the end
	fails   []answer
	okAfter int // 200s of requests started once both instances were ready again

	okTimes, downTimes latencies
}

// latencies are the durations of some requests, for the log.
type latencies []time.Duration

func (l latencies) String() string {
	if len(l) == 0 {
		return "none"
	}
	s := slices.Sorted(slices.Values(l))
	at := func(q float64) time.Duration { return s[int(q*float64(len(s)-1))].Round(10 * time.Microsecond) }
	return fmt.Sprintf("p50 %v, p99 %v, max %v", at(0.5), at(0.99), at(1))
}

func (l *loadResult) add(a answer, recovered time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	switch {
	case a.failure != "":
		l.fails = append(l.fails, a)
	case a.storeDown:
		l.down = append(l.down, a)
		l.downTimes = append(l.downTimes, a.end.Sub(a.start))
	default:
		l.ok++
		l.okTimes = append(l.okTimes, a.end.Sub(a.start))
		if !recovered.IsZero() && a.start.After(recovered) {
			l.okAfter++
		}
	}
}

// faultTimes are the moments of the fault, set by the test's goroutine
// and read by the clients once recovered is closed.
type faultTimes struct {
	start     time.Time    // the store is told to stop
	storeBack time.Time    // the store answers again
	ready     [2]time.Time // each instance's /readyz is 200 again
	recovered chan struct{}
}

func runFault(t *testing.T, store *sessiontest.Server) {
	rig := newFaultRig(t, store)

	// 64 clients and a victim of a back-channel logout signed in before
	// the fault, on either instance.
	clients := make([]*http.Client, faultClients)
	for c := range clients {
		var err error
		if clients[c], err = rig.signIn(faultUser(c), "", c%2); err != nil {
			t.Fatal(err)
		}
	}
	victim, err := rig.signIn("fault-victim", "sid-victim", 0)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), faultDeadline)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }() // no client outlives the test, even when it fails

	var (
		res      loadResult
		ft       = faultTimes{recovered: make(chan struct{})}
		made     atomic.Int64
		trigger  = make(chan struct{})
		trigOnce sync.Once
	)
	began := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runClient(ctx, rig, c, clients[c], &ft, &res, func() {
				if made.Add(1) == faultClients*faultTriggerAt {
					trigOnce.Do(func() { close(trigger) })
				}
			})
		}()
	}
	loadDone := make(chan struct{})
	go func() { wg.Wait(); close(loadDone) }()

	select {
	case <-trigger:
	case <-loadDone:
		t.Fatal("the load ended before the fault")
	case <-ctx.Done():
		t.Fatal("the load did not reach the fault within the deadline")
	}

	// A session saved just before the store stops must outlive the
	// restart too: the last writes before a stop are kept.
	justBefore, err := rig.signIn("fault-just-before", "sid-just-before", 1)
	if err != nil {
		t.Fatal(err)
	}

	// The fault: the provider rotates its key (the old one is no longer
	// published, as after a real rotation's overlap) and the store stops.
	ft.start = time.Now()
	rig.op.Rotate(t, false)
	store.Stop()
	stopped := time.Since(ft.start)
	for i := range rig.bases {
		if _, err := rig.waitReadyz(i, http.StatusServiceUnavailable, `"store":"unreachable"`); err != nil {
			t.Error(err)
		}
	}
	// While the store is down, a sign-in and a logout token signed with
	// the new key get 503: the provider retries the token later. The
	// sign-in starts without the store (it rides in a cookie) and gets
	// the store-down page when it comes back with the ID token.
	follow := newClient()
	follow.CheckRedirect = nil
	if resp, err := follow.Get(rig.bases[1] + "/login?return_to=%2Fwhoami"); err != nil {
		t.Errorf("sign-in with the store down: %v", err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Request.URL.Path != "/callback" || resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), storeDownPage) {
			t.Errorf("sign-in with the store down: %s %d, want the store-down page (503) at /callback", resp.Request.URL.Path, resp.StatusCode)
		}
	}
	victimToken := rig.op.LogoutToken(rig.op.LogoutClaims("fault-victim", "sid-victim"), testprovider.TokenHeader{})
	if status, body, err := rig.backchannel(victimToken, 1); err != nil || status != http.StatusServiceUnavailable ||
		!strings.Contains(body, "temporarily_unavailable") {
		t.Errorf("back-channel logout with the store down: %d %s %v, want 503 temporarily_unavailable", status, body, err)
	}
	if wait := faultOutage - time.Since(ft.start); wait > 0 {
		time.Sleep(wait) // the outage itself, not an assertion
	}
	restart := time.Now()
	store.Start()
	ft.storeBack = time.Now()
	for i := range rig.bases {
		if ft.ready[i], err = rig.waitReadyz(i, http.StatusOK, `"store":"ok"`); err != nil {
			t.Error(err)
			ft.ready[i] = time.Now()
		}
	}
	close(ft.recovered)

	for i := range rig.bases {
		if err := rig.whoami(justBefore, "fault-just-before", i); err != nil {
			t.Errorf("the session saved just before the store stopped: %v", err)
		}
	}
	// After it: the provider's retry of the logout token, which the
	// balancer sends to the other instance this time (one that has not
	// fetched the new key yet), ends the victim's session on both.
	if status, body, err := rig.backchannel(victimToken, 0); err != nil || status != http.StatusOK {
		t.Errorf("the provider's retry of the logout token after the outage: %d %s %v, want 200", status, body, err)
	}
	for i := range rig.bases {
		if err := rig.signedOut(victim, i); err != nil {
			t.Errorf("the victim of the back-channel logout: %v", err)
		}
	}
	// New sign-ins: ID tokens signed with the new key, on both instances.
	late := make([]*http.Client, 4)
	for j := range late {
		if late[j], err = rig.signIn(fmt.Sprintf("fault-late-%d", j), fmt.Sprintf("sid-late-%d", j), j%2); err != nil {
			t.Errorf("a sign-in after the key rotation: %v", err)
		}
	}
	if !slices.Contains(late, nil) {
		for j, c := range late {
			if err := rig.whoami(c, fmt.Sprintf("fault-late-%d", j), (j+1)%2); err != nil {
				t.Errorf("a session made after the fault on the other instance: %v", err)
			}
		}
		// A back-channel logout signed with the new key, delivered to
		// instance 0, ends late-1's session (made on instance 1) on both.
		tok := rig.op.LogoutToken(rig.op.LogoutClaims("fault-late-1", "sid-late-1"), testprovider.TokenHeader{})
		if status, body, err := rig.backchannel(tok, 0); err != nil || status != http.StatusOK {
			t.Errorf("a back-channel logout signed with the new key: %d %s %v, want 200", status, body, err)
		}
		for i := range rig.bases {
			if err := rig.signedOut(late[1], i); err != nil {
				t.Errorf("fault-late-1 after its back-channel logout: %v", err)
			}
			if err := rig.whoami(late[2], "fault-late-2", i); err != nil {
				t.Errorf("another session after a back-channel logout: %v", err)
			}
		}
	}

	select {
	case <-loadDone:
	case <-ctx.Done():
		t.Fatalf("the load did not end within %s", faultDeadline)
	}
	took := time.Since(began)

	// Full recovery, and no session lost: every client, on each instance.
	lost := 0
	for c, cl := range clients {
		for i := range rig.bases {
			if err := rig.whoami(cl, faultUser(c), i); err != nil {
				if lost++; lost <= 10 {
					t.Errorf("after the load: %v", err)
				}
			}
		}
	}
	if lost > 10 {
		t.Errorf("after the load: ... %d answers in all without the client's identity, of %d", lost, 2*faultClients)
	}

	res.mu.Lock()
	defer res.mu.Unlock()
	var lateDown []answer
	var lastDown time.Time
	for _, a := range res.down {
		if a.end.Before(ft.start) || a.start.After(ft.ready[a.instance].Add(faultMargin)) {
			lateDown = append(lateDown, a)
		}
		if a.end.After(lastDown) {
			lastDown = a.end
		}
	}
	t.Logf("%d requests in %v (%.0f/s) by %d clients on 2 instances: %d ok, %d store-down pages (503) during the fault, %d failures; %d ok after the recovery",
		res.total, took.Round(time.Millisecond), float64(res.total)/took.Seconds(), faultClients,
		res.ok, len(res.down), len(res.fails), res.okAfter)
	t.Logf("latency: ok %s; store-down pages %s", res.okTimes, res.downTimes)
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	t.Logf("fault: the store took %v to stop, was started again %v later and answered %v after that (down %v in all); "+
		"/readyz 200 again %v and %v after it answered; clients saw 503s until %v after the fault began (%v after the store answered)",
		ms(stopped), ms(restart.Sub(ft.start)-stopped), ms(ft.storeBack.Sub(restart)), ms(ft.storeBack.Sub(ft.start)),
		ms(ft.ready[0].Sub(ft.storeBack)), ms(ft.ready[1].Sub(ft.storeBack)),
		ms(lastDown.Sub(ft.start)), ms(lastDown.Sub(ft.storeBack)))
	if res.total != faultClients*faultPerClient {
		t.Errorf("%d requests made, want %d", res.total, faultClients*faultPerClient)
	}
	for _, a := range res.fails[:min(len(res.fails), 20)] {
		t.Errorf("client %d, instance %d, at %v (fault at %v, store back at %v): %s", a.client, a.instance,
			a.start.Sub(began).Round(time.Millisecond), ft.start.Sub(began).Round(time.Millisecond),
			ft.storeBack.Sub(began).Round(time.Millisecond), a.failure)
	}
	if len(res.fails) > 20 {
		t.Errorf("... and %d more failures", len(res.fails)-20)
	}
	for _, a := range lateDown[:min(len(lateDown), 20)] {
		t.Errorf("client %d: the store-down page from instance %d outside the fault: request from %v to %v, fault from %v, instance ready again at %v (+%v allowed)",
			a.client, a.instance, a.start.Sub(began).Round(time.Millisecond), a.end.Sub(began).Round(time.Millisecond),
			ft.start.Sub(began).Round(time.Millisecond), ft.ready[a.instance].Sub(began).Round(time.Millisecond), faultMargin)
	}
	if len(res.down) == 0 {
		t.Error("no request met the store down: the fault did not happen under load")
	}
	if res.okAfter == 0 {
		t.Error("no request succeeded after the recovery")
	}
}

// runClient makes one client's requests, alternating instances; every
// fourth is rp's /profile, the others the app's page. made is called after
// each request.
func runClient(ctx context.Context, rig *faultRig, c int, cl *http.Client, ft *faultTimes, res *loadResult, made func()) {
	sub := faultUser(c)
	var recovered time.Time
	for k := range faultPerClient {
		if k == faultGateAt {
			select {
			case <-ft.recovered:
			case <-ctx.Done():
			}
		}
		select {
		case <-ft.recovered:
			if recovered.IsZero() {
				recovered = slices.MaxFunc(ft.ready[:], time.Time.Compare)
			}
		default:
		}
		select {
		case <-time.After(rand.N(2 * faultThink)):
		case <-ctx.Done():
		}
		i := (c + k) % 2
		path, want := "/whoami", "user="+sub+" email="+sub+"@example.com"
		if k%4 == 3 {
			path, want = "/profile", "<code>"+sub+"</code>"
		}
		a := answer{client: c, instance: i, start: time.Now()}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rig.bases[i]+path, nil)
		resp, err := cl.Do(req)
		if err != nil {
			a.failure = fmt.Sprintf("GET %s: %v", path, err)
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch b := string(body); {
			case resp.StatusCode == http.StatusOK && (b == want || path == "/profile" && strings.Contains(b, want)):
			case resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(b, storeDownPage):
				a.storeDown = true
			case resp.StatusCode == http.StatusOK:
				a.failure = fmt.Sprintf("GET %s: 200 without %s's identity: %.200q", path, sub, b)
			case resp.StatusCode/100 == 3 || resp.StatusCode == http.StatusUnauthorized:
				a.failure = fmt.Sprintf("GET %s: %d %s: the session was lost", path, resp.StatusCode, resp.Header.Get("Location"))
			default:
				a.failure = fmt.Sprintf("GET %s: %d %.200q", path, resp.StatusCode, b)
			}
		}
		a.end = time.Now()
		res.add(a, recovered)
		made()
	}
}

func faultUser(c int) string { return fmt.Sprintf("%s%02d", faultUserPrefix, c) }

// getPage gets target with c and reads the body.
func getPage(c *http.Client, target string) (int, string, error) {
	resp, err := c.Get(target)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}
