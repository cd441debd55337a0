package keycloak

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/session/sessiontest"
)

// How a logout started at Keycloak reaches rp.
type reach string

const (
	// Keycloak posts a logout token to the client's back-channel URL: rp
	// ends the session before Keycloak's admin or account call returns.
	byBackchannel reach = "back-channel logout token"
	// Keycloak's "Logging out" page frames the client's front-channel URL:
	// the browser's load of the frame ends the session.
	byFrontchannel reach = "front-channel frame"
	// Keycloak tells rp nothing: the session ends at rp's next refresh,
	// which Keycloak refuses (invalid_grant).
	atRefresh reach = "refused refresh"
	// Keycloak ends nothing of rp's: the session goes on, and its
	// refreshes still work.
	notAtAll reach = "nothing: rp's session survives"
)

// kcLogoutSetup is one way rp is set up at Keycloak.
type kcLogoutSetup struct {
	store func(testing.TB) string
	// offline: rp asks for offline_access (RP_OFFLINE_ACCESS=true, off by
	// default); rp's session then lives in an offline session at Keycloak.
	offline bool
	// consent: the client requires consent, so an admin has a consent to
	// revoke.
	consent bool
	front   bool // front-channel logout instead of back-channel
}

func (s kcLogoutSetup) String() string {
	name := "online"
	if s.offline {
		name = "offline"
	}
	if s.front {
		return name + "/frontchannel"
	}
	return name + "/backchannel"
}

// kcLogoutAction is a logout started at Keycloak, and how it reaches rp
// in each setup: Keycloak 26.7's behaviour, found by running it.
type kcLogoutAction struct {
	name  string
	do    func(t *testing.T, v *victim)
	reach func(s kcLogoutSetup) reach
}

var kcLogoutActions = []kcLogoutAction{
	{
		// Device activity → "Sign out all devices". In the offline setup
		// the browser has no SSO session (Keycloak removed the regular
		// session rp's sign-in created), so the console asks for the
		// password; its list includes rp's offline session, which DELETE
		// /account/sessions ends with a back-channel logout only. Online,
		// rp shares the browser's SSO session with the console: DELETE
		// spares the current session, and keycloak.logout() ends it, with
		// a logout token or a frame for rp.
		name: "account-console-sign-out-all",
		do: func(t *testing.T, v *victim) {
			ac := v.kc.openAccountConsole(t, v.b, v.u)
			if ac.AskedPassword != v.setup.offline {
				t.Errorf("the account console asked for the password: %v; want %v (offline access %v)", ac.AskedPassword, v.setup.offline, v.setup.offline)
			}
			listed := false
			for _, s := range ac.sessions(t) {
				listed = listed || s.ID == v.sid
			}
			if !listed {
				t.Errorf("Device activity does not list rp's session %s: %v", v.sid, ac.sessions(t))
			}
			v.logoutPage = ac.signOutAllDevices(t)
		},
		reach: func(s kcLogoutSetup) reach {
			switch {
			case !s.front:
				return byBackchannel
			case s.offline:
				return atRefresh // "Offline user session not found"
			default:
				return byFrontchannel
			}
		},
	},
	{
		// The console's own "Sign out" (keycloak.logout()): it ends the
		// browser's SSO session. Online, rp is in it and gets a logout
		// token or a frame. Offline, rp's sign-in left no SSO session, the
		// console made its own (asking for the password), and signing out
		// of it leaves rp's offline session alone.
		name: "account-console-sign-out",
		do: func(t *testing.T, v *victim) {
			v.logoutPage = v.kc.openAccountConsole(t, v.b, v.u).signOut(t)
		},
		reach: func(s kcLogoutSetup) reach {
			switch {
			case s.offline:
				return notAtAll
			case s.front:
				return byFrontchannel
			default:
				return byBackchannel
			}
		},
	},
	{
		// Users → user → "Sign out" (POST /users/{id}/logout). It ends the
		// user's regular sessions, with a logout token to back-channel
		// clients and nothing for front-channel ones (no browser is there
		// to frame them), and sets the user's "not before". Offline
		// sessions survive it and get no logout; their refresh is refused
		// as a "Stale token".
		name: "admin-logout",
		do: func(t *testing.T, v *victim) {
			intoNextSecond()
			v.kc.Admin(t, http.MethodPost, fmt.Sprintf("/%s/users/%s/logout", v.u.Realm, v.u.ID), nil, nil)
		},
		reach: func(s kcLogoutSetup) reach {
			if s.offline || s.front {
				return atRefresh // "Stale token"; "Session not active"
			}
			return byBackchannel
		},
	},
	{
		// Users → user → Enabled off. Keycloak sends no logout at all and
		// keeps the sessions; it refuses their refresh: "User disabled".
		name: "disable",
		do: func(t *testing.T, v *victim) {
			v.kc.Admin(t, http.MethodPut, fmt.Sprintf("/%s/users/%s", v.u.Realm, v.u.ID), map[string]any{"enabled": false}, nil)
		},
		reach: func(kcLogoutSetup) reach { return atRefresh },
	},
	{
		// Users → user → Consents → Revoke (DELETE
		// /users/{id}/consents/{client}): it revokes the consent and the
		// client's offline tokens. A revoked consent sends a logout to the
		// client's regular sessions (back-channel only); a revoked offline
		// token sends nothing and its refresh is refused: "Offline user
		// session not found".
		name: "revoke",
		do: func(t *testing.T, v *victim) {
			v.kc.Admin(t, http.MethodDelete, fmt.Sprintf("/%s/users/%s/consents/%s", v.u.Realm, v.u.ID, v.c.ClientID), nil, nil)
		},
		reach: func(s kcLogoutSetup) reach {
			if s.offline || s.front {
				return atRefresh // "Offline user session not found"; "Session doesn't have required client"
			}
			return byBackchannel
		},
	},
}

// TestLogoutAtKeycloak: a logout started at Keycloak ends rp's sessions on
// two instances sharing Redis, and on two sharing PostgreSQL: the user
// signs out in Keycloak's account console (of all devices, or of the
// console), an admin signs the user out, disables the user, or revokes the
// user's consent or offline token. Each runs with a back-channel client
// and a front-channel one, with rp's offline access (on Redis) and without
// it (on PostgreSQL, with a client that requires consent).
//
// Instance A signs the user in; Keycloak's logouts reach instance B (its
// back-channel URL through a recorder, its front-channel URL framed). The
// session must then be gone from the shared store, and the cookie must
// open neither the app nor rp's pages on A or B; another user's session
// stays. When Keycloak sends nothing, the session lives until rp's next
// refresh, which Keycloak refuses (tokens live 3 seconds here); with
// offline access, signing out of the account console alone does not
// reach rp at all, and the test pins that too.
func TestLogoutAtKeycloak(t *testing.T) {
	kc := needKeycloak(t)
	t.Parallel()
	// Subtests run in goroutines of their own rather than as parallel
	// tests: most of their time is waiting for tokens to be due, which
	// should not hold one of the package's few parallel slots.
	var wg sync.WaitGroup
	for _, s := range []kcLogoutSetup{
		{store: sessiontest.Redis, offline: true},
		{store: sessiontest.Redis, offline: true, front: true},
		{store: sessiontest.Postgres, consent: true},
		{store: sessiontest.Postgres, consent: true, front: true},
	} {
		wg.Go(func() {
			t.Run(s.String(), func(t *testing.T) { kc.testLogoutAtKeycloak(t, s) })
		})
	}
	wg.Wait()
}

// kcLogoutPair is one client and its two rp instances.
type kcLogoutPair struct {
	setup kcLogoutSetup
	c     client
	A, B  *rpInstance
	rec   *logoutRecorder
	front string // B's front-channel logout URL
}

func (k *keycloak) testLogoutAtKeycloak(t *testing.T, s kcLogoutSetup) {
	lnA, base := listen(t)
	lnB, baseB := listen(t)
	p := &kcLogoutPair{setup: s, rec: newLogoutRecorder(t, baseB+"/backchannel-logout"), front: baseB + "/frontchannel-logout"}
	attrs := map[string]string{"access.token.lifespan": "3"}
	over := map[string]any{"consentRequired": s.consent}
	if s.front {
		over["frontchannelLogout"] = true
		attrs["frontchannel.logout.url"] = p.front
		attrs["frontchannel.logout.session.required"] = "true"
		attrs["backchannel.logout.url"] = ""
	} else {
		attrs["backchannel.logout.url"] = p.rec.URL
	}
	p.c = k.clientFor(t, testRealm, base, attrs, over)
	env := k.rpEnv(t, p.c, base)
	env["RP_SESSION_STORE"] = s.store(t)
	env["RP_UPSTREAM"] = startApp(t)
	env["RP_FRONTCHANNEL_LOGOUT"] = fmt.Sprint(s.front)
	env["RP_OFFLINE_ACCESS"] = fmt.Sprint(s.offline)
	p.A = startRP(t, lnA, env)
	p.B = startPeer(t, lnB, baseB, env)

	// Another user, signed in all along.
	other := k.newUser(t, testRealm, "users")
	ob := newBrowser(t)
	p.A.signInAs(t, ob, other, s.consent)

	var wg sync.WaitGroup
	for _, a := range kcLogoutActions {
		wg.Go(func() {
			t.Run(a.name, func(t *testing.T) { k.runLogoutAction(t, p, a) })
		})
	}
	wg.Wait()

	cookie := ob.Cookie(p.A.Base+"/", p.A.Cookie)
	if session, entry := p.B.stored(t, cookie); !session || !entry {
		t.Errorf("another user's session: stored %v, indexed %v; want both", session, entry)
	}
	wantOpen(t, "another user's app on A", ob.Get(t, p.A.Base+"/app/other"), appAnswer)
	wantOpen(t, "another user's profile on B", ob.Get(t, p.B.Base+"/profile"), other.Username)
}

// victim is the user a logout is for, signed in through instance A.
type victim struct {
	kc         *keycloak
	setup      kcLogoutSetup
	u          user
	c          client
	b          *browser
	sid        string // Keycloak's session of rp's sign-in
	logoutPage page   // Keycloak's logout page, when the action had one
}

func (k *keycloak) runLogoutAction(t *testing.T, p *kcLogoutPair, a kcLogoutAction) {
	s := p.setup
	v := &victim{kc: k, setup: s, u: k.newUser(t, testRealm, "users"), c: p.c, b: newBrowser(t)}
	p.A.signInAs(t, v.b, v.u, s.consent)
	cookie := v.b.Cookie(p.A.Base+"/", p.A.Cookie)

	// Where Keycloak keeps rp's sign-in: with offline access, in an
	// offline session only (it removes the regular one, so the browser
	// has no SSO session left); without, in the browser's SSO session.
	regular, offline := k.sessions(t, v.u), k.offlineSessions(t, v.u, p.c)
	switch {
	case s.offline && len(regular) == 0 && len(offline) == 1:
		v.sid = offline[0].ID
	case !s.offline && len(regular) == 1 && len(offline) == 0:
		v.sid = regular[0].ID
	default:
		t.Fatalf("Keycloak holds %d regular and %d offline sessions of the user; want only one offline session with offline access, one regular without",
			len(regular), len(offline))
	}
	wantOpen(t, "the app on B before the logout", v.b.Get(t, p.B.Base+"/app/before"), appAnswer)

	a.do(t, v)

	want := a.reach(s)
	posted := p.rec.For(v.u.ID)
	var framed []string
	if v.logoutPage.URL != nil {
		for _, src := range frames(t, v.logoutPage) {
			if strings.HasPrefix(src, p.front) {
				framed = append(framed, src)
			}
		}
	}
	switch want {
	case byBackchannel:
		if len(posted) != 1 {
			t.Fatalf("Keycloak posted %d logout tokens for the user, want 1", len(posted))
		}
		c := posted[0].Claims
		if c["sid"] != v.sid || c["aud"] != p.c.ClientID || posted[0].Status != http.StatusOK {
			t.Errorf("logout token sid %v aud %v, answered %d; want sid %s aud %s, 200", c["sid"], c["aud"], posted[0].Status, v.sid, p.c.ClientID)
		}
	case byFrontchannel:
		if len(framed) != 1 {
			t.Fatalf("Keycloak's logout page frames %q for rp, want one frame of %s", framed, p.front)
		}
		sidParam := regexp.MustCompile(`[?&]sid=` + regexp.QuoteMeta(v.sid) + `(&|$)`)
		if !sidParam.MatchString(framed[0]) || !strings.Contains(framed[0], "iss=") {
			t.Errorf("frame %s: want iss and sid=%s", framed[0], v.sid)
		}
		f := v.b.LoadFrame(t, framed[0])
		if f.Status != http.StatusOK {
			t.Errorf("the front-channel frame: %s", f)
		}
		// A browser shows the frame only if rp lets Keycloak's page frame it.
		if csp := f.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors "+k.URL) || f.Header.Get("X-Frame-Options") != "" {
			t.Errorf("the front-channel frame: CSP %q, X-Frame-Options %q; want frame-ancestors %s", csp, f.Header.Get("X-Frame-Options"), k.URL)
		}
	case atRefresh, notAtAll:
		if len(posted) != 0 || len(framed) != 0 {
			t.Fatalf("Keycloak sent %d logout tokens and %d frames; this test expects none", len(posted), len(framed))
		}
	}
	if v.logoutPage.URL != nil {
		for _, src := range frames(t, v.logoutPage) {
			if !strings.HasPrefix(src, p.front) {
				v.b.LoadFrame(t, src)
			}
		}
	}

	session, entry := p.A.stored(t, cookie)
	if want == notAtAll {
		if !session || !entry {
			t.Fatalf("Keycloak sent nothing, yet the session is gone (stored %v, indexed %v)", session, entry)
		}
		refreshed := regexp.MustCompile(`msg="tokens refreshed" sub=` + regexp.QuoteMeta(v.u.ID))
		deadline := time.Now().Add(time.Minute)
		for !refreshed.MatchString(p.A.Log.String()) {
			wantOpen(t, "the app on A", v.b.Get(t, p.A.Base+"/app/still"), appAnswer)
			if time.Now().After(deadline) {
				t.Fatal("no refresh within a minute")
			}
			time.Sleep(100 * time.Millisecond)
		}
		wantOpen(t, "the profile on B after a refresh", v.b.Get(t, p.B.Base+"/profile"), v.u.Username)
		t.Logf("%s, %s: %s", a.name, s, want)
		return
	}
	if want != atRefresh {
		if session || entry {
			t.Fatalf("after a %s, the shared store still holds the session (%v) or its index entry (%v)", want, session, entry)
		}
	} else {
		if !session || !entry {
			t.Fatalf("Keycloak sent nothing, yet the session is gone (stored %v, indexed %v)", session, entry)
		}
		// The first request after the tokens are due: a proxied one on A
		// (Redis), rp's own page on B (PostgreSQL).
		on, target := p.A, p.A.Base+"/app/poll"
		if !s.offline {
			on, target = p.B, p.B.Base+"/profile"
		}
		wantSignIn(t, "after the refused refresh", untilSignIn(t, v.b, target))
		refused := regexp.MustCompile(`msg="token refresh refused[^\n]* sub=` + regexp.QuoteMeta(v.u.ID) + ` err="([^"]*)"`).FindStringSubmatch(on.Log.String())
		if refused == nil {
			t.Fatalf("the session ended without the log's \"token refresh refused\" on %s", on.Base)
		}
		t.Logf("Keycloak refused the refresh: %s", refused[1])
		if session, entry := p.B.stored(t, cookie); session || entry {
			t.Fatalf("after the refused refresh the shared store still holds the session (%v) or its index entry (%v)", session, entry)
		}
	}
	t.Logf("%s, %s: reached rp by %s", a.name, s, want)

	for _, r := range []*rpInstance{p.A, p.B} {
		wantSignIn(t, "the app on "+r.Base, v.b.Get(t, r.Base+"/app/after"))
		wantSignIn(t, "the profile on "+r.Base, v.b.Get(t, r.Base+"/profile"))
	}
}
