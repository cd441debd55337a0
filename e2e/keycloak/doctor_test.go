package keycloak

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestDoctor runs `rp doctor` as an admin does (the rp binary, the RP_*
// settings in its environment, the client secret in RP_CLIENT_SECRET_FILE)
// against Keycloak: a good configuration passes, and each mistake is named,
// with its fix, by the check it breaks and by no other. Each verdict is
// held against what Keycloak itself answers to the same question, so the
// test fails if doctor guesses from the settings.
func TestDoctor(t *testing.T) {
	kc := needKeycloak(t)
	t.Parallel()
	bin := buildRP(t)
	ln, base := listen(t) // rp need not run: doctor checks its settings
	ln.Close()
	direct := kc.Direct + "/realms/" + testRealm

	// settings are those of an rp at base for client c, as the README's
	// "Pointing rp at an existing Keycloak" has them: the secret from a
	// file, front-channel logout off (clientFor registers back-channel).
	settings := func(t *testing.T, c client, secret string) map[string]string {
		env := kc.rpEnv(t, c, base)
		delete(env, "RP_CLIENT_SECRET")
		env["RP_CLIENT_SECRET_FILE"] = secretFile(t, secret)
		env["RP_FRONTCHANNEL_LOGOUT"] = "false"
		return env
	}

	t.Run("a good configuration passes", func(t *testing.T) {
		t.Parallel()
		c := kc.clientFor(t, testRealm, base, nil, nil)
		rep := doctorRun(t, bin, settings(t, c, c.Secret))
		rep.wantExit(t, 0, "No problems found.")
		for _, f := range rep.findings {
			if f.Status != "ok" && f.Check != "clock" {
				t.Errorf("%s: %s %s (fix: %s)", f.Check, f.Status, f.Detail, f.Fix)
			}
		}
		// Keycloak sends no Date header: doctor cannot measure the skew
		// and says so.
		rep.want(t, "clock", "WARN", "no Date header", "NTP")
		rep.want(t, "client credentials", "ok", "a made-up code got invalid_grant, a wrong secret did not", "")
		rep.want(t, "redirect URI", "ok", base+"/callback accepted: a sign-in without a session (prompt=none) came back to it with login_required", "")
		rep.want(t, "sign-in request", "ok", `"openid profile email"`, "")
		rep.want(t, "post-logout URI", "ok", base+"/logged-out accepted: the provider sends the browser back to it", "")
		rep.noSecret(t, c.Secret)

		// What Keycloak itself answers to the same questions.
		if status, e := kc.tokenAnswer(t, c, c.Secret); status != http.StatusBadRequest || e != "invalid_grant" {
			t.Errorf("Keycloak: a made-up code with the right secret: %d %s, want 400 invalid_grant", status, e)
		}
		a := kc.authorizeAnswer(t, c, base+"/callback", "openid profile email offline_access")
		if !strings.HasPrefix(a.Location, base+"/callback?") || a.query().Get("error") != "login_required" {
			t.Errorf("Keycloak: prompt=none without a session: %+v, want a redirect to %s/callback with login_required", a, base)
		}
		if l := kc.logoutAnswer(t, c, base+"/logged-out"); l.Status != http.StatusFound || l.Location != base+"/logged-out" {
			t.Errorf("Keycloak: logout with client_id and the registered URI: %+v, want a redirect to it", l)
		}
		// Doctor's probes left no session behind at Keycloak.
		for _, count := range []string{"session-count", "offline-session-count"} {
			var n struct{ Count int }
			kc.Admin(t, http.MethodGet, "/"+testRealm+"/clients/"+c.ID+"/"+count, nil, &n)
			if n.Count != 0 {
				t.Errorf("Keycloak's %s for the client is %d after rp doctor", count, n.Count)
			}
		}
	})

	t.Run("a wrong client secret", func(t *testing.T) {
		t.Parallel()
		c := kc.clientFor(t, testRealm, base, nil, nil)
		wrong := "s-" + rand.Text() + rand.Text()
		rep := doctorRun(t, bin, settings(t, c, wrong))
		rep.wantExit(t, 1, "1 problem(s) found.")
		rep.wantFails(t, "client credentials")
		rep.want(t, "client credentials", "FAIL", `unauthorized_client ("Invalid client or Invalid client credentials")`, "RP_CLIENT_SECRET is not the secret of client")
		rep.want(t, "client credentials", "FAIL", "", "Credentials → Client Secret")
		rep.noSecret(t, wrong)
		if status, e := kc.tokenAnswer(t, c, wrong); status != http.StatusUnauthorized || e != "unauthorized_client" {
			t.Errorf("Keycloak: a made-up code with a wrong secret: %d %s, want 401 unauthorized_client", status, e)
		}
	})

	t.Run("an unregistered redirect URI", func(t *testing.T) {
		t.Parallel()
		c := kc.clientFor(t, testRealm, base, nil, map[string]any{"redirectUris": []string{base + "/elsewhere/callback"}})
		rep := doctorRun(t, bin, settings(t, c, c.Secret))
		rep.wantExit(t, 1, "1 problem(s) found.")
		rep.wantFails(t, "redirect URI")
		rep.want(t, "redirect URI", "FAIL", base+`/callback refused: the authorization endpoint answered HTTP 400 "Invalid parameter: redirect_uri"`,
			"register it exactly as the client's redirect URI (Keycloak: Valid redirect URIs)")
		a := kc.authorizeAnswer(t, c, base+"/callback", "openid")
		if a.Status != http.StatusBadRequest || !strings.Contains(a.Body, "Invalid parameter: redirect_uri") {
			t.Errorf("Keycloak: an unregistered redirect URI: %d, want 400 with its error page\n%s", a.Status, a.Body)
		}
	})

	t.Run("an unregistered post-logout redirect URI", func(t *testing.T) {
		t.Parallel()
		c := kc.clientFor(t, testRealm, base, map[string]string{"post.logout.redirect.uris": base + "/elsewhere"}, nil)
		rep := doctorRun(t, bin, settings(t, c, c.Secret))
		rep.wantExit(t, 1, "1 problem(s) found.")
		rep.wantFails(t, "post-logout URI")
		rep.want(t, "post-logout URI", "FAIL", base+`/logged-out refused: the end-session endpoint answered HTTP 400 "Invalid redirect uri"`,
			"Valid post logout redirect URIs, a list of its own")
		l := kc.logoutAnswer(t, c, base+"/logged-out")
		if l.Status != http.StatusBadRequest || !strings.Contains(l.Body, "Invalid redirect uri") {
			t.Errorf("Keycloak: an unregistered post-logout URI: %d, want 400 with its error page\n%s", l.Status, l.Body)
		}
	})

	t.Run("an issuer that is not Keycloak's name for itself", func(t *testing.T) {
		t.Parallel()
		// RP_ISSUER is the address rp reaches Keycloak by, while
		// KC_HOSTNAME makes the issuer the browser-facing one.
		c := kc.clientFor(t, testRealm, base, nil, nil)
		env := settings(t, c, c.Secret)
		env["RP_ISSUER"] = direct
		rep := doctorRun(t, bin, env)
		rep.wantExit(t, 1, "1 problem(s) found.")
		rep.wantFails(t, "issuer")
		rep.want(t, "issuer", "FAIL", fmt.Sprintf("the provider names itself %q, but RP_ISSUER is %q", kc.Issuer(testRealm), direct), "KC_HOSTNAME")
		rep.want(t, "issuer", "FAIL", "", "set RP_ISSUER="+kc.Issuer(testRealm)+" (the issuer as browsers and tokens see it) and RP_DISCOVERY_URL="+direct)
		if iss := kc.discoveredIssuer(t, direct); iss != kc.Issuer(testRealm) {
			t.Errorf("Keycloak at %s names itself %q, want %q", direct, iss, kc.Issuer(testRealm))
		}
		// The fix, applied, passes.
		env["RP_ISSUER"], env["RP_DISCOVERY_URL"] = kc.Issuer(testRealm), direct
		doctorRun(t, bin, env).wantExit(t, 0, "No problems found.")
	})

	// What else Keycloak taught: sign-ins it refuses although the redirect
	// URI is registered, and a client that takes any secret.
	t.Run("a client without the standard flow", func(t *testing.T) {
		t.Parallel()
		c := kc.clientFor(t, testRealm, base, nil, map[string]any{"standardFlowEnabled": false})
		rep := doctorRun(t, bin, settings(t, c, c.Secret))
		rep.wantExit(t, 1, "1 problem(s) found.")
		rep.wantFails(t, "sign-in request")
		rep.want(t, "sign-in request", "FAIL", "unauthorized_client", "Standard flow On")
		if a := kc.authorizeAnswer(t, c, base+"/callback", "openid"); a.query().Get("error") != "unauthorized_client" {
			t.Errorf("Keycloak: %+v, want unauthorized_client sent back", a)
		}
	})

	t.Run("a client without offline_access", func(t *testing.T) {
		t.Parallel()
		c := kc.clientFor(t, testRealm, base, nil, nil)
		kc.removeOptionalScope(t, c, "offline_access")
		env := settings(t, c, c.Secret)
		env["RP_OFFLINE_ACCESS"] = "true"
		rep := doctorRun(t, bin, env)
		rep.wantExit(t, 1, "1 problem(s) found.")
		rep.wantFails(t, "sign-in request")
		rep.want(t, "sign-in request", "FAIL", "invalid_scope", "RP_OFFLINE_ACCESS=false")
		if a := kc.authorizeAnswer(t, c, base+"/callback", "openid profile email offline_access"); a.query().Get("error") != "invalid_scope" {
			t.Errorf("Keycloak: %+v, want invalid_scope sent back", a)
		}
		env["RP_OFFLINE_ACCESS"] = "false"
		doctorRun(t, bin, env).wantExit(t, 0, "No problems found.")
	})

	t.Run("a public client", func(t *testing.T) {
		t.Parallel()
		c := kc.clientFor(t, testRealm, base, nil, map[string]any{"publicClient": true})
		rep := doctorRun(t, bin, settings(t, c, c.Secret))
		rep.wantExit(t, 0, "No problems found.")
		rep.want(t, "client credentials", "WARN", "the client may be public", "Client authentication On")
		if status, e := kc.tokenAnswer(t, c, "s-"+rand.Text()); status != http.StatusBadRequest || e != "invalid_grant" {
			t.Errorf("Keycloak: a public client with any secret: %d %s, want 400 invalid_grant", status, e)
		}
	})

	t.Run("an unknown client id", func(t *testing.T) {
		t.Parallel()
		c := client{Realm: testRealm, ClientID: "rp-unknown-" + strings.ToLower(rand.Text()[:8]), Secret: "s-" + rand.Text()}
		rep := doctorRun(t, bin, settings(t, c, c.Secret))
		rep.wantExit(t, 1, "3 problem(s) found.")
		rep.wantFails(t, "client credentials", "redirect URI", "post-logout URI")
		rep.want(t, "client credentials", "FAIL", "invalid_client", "RP_CLIENT_ID")
		rep.want(t, "redirect URI", "FAIL", `"Client not found."`, "RP_CLIENT_ID")
		if status, e := kc.tokenAnswer(t, c, c.Secret); status != http.StatusUnauthorized || e != "invalid_client" {
			t.Errorf("Keycloak: an unknown client: %d %s, want 401 invalid_client", status, e)
		}
	})
}

// removeOptionalScope takes scope off c's optional client scopes, as an
// admin does on the client's "Client scopes" tab.
func (k *keycloak) removeOptionalScope(t *testing.T, c client, scope string) {
	t.Helper()
	var scopes []struct{ ID, Name string }
	k.Admin(t, http.MethodGet, "/"+c.Realm+"/clients/"+c.ID+"/optional-client-scopes", nil, &scopes)
	i := slices.IndexFunc(scopes, func(s struct{ ID, Name string }) bool { return s.Name == scope })
	if i < 0 {
		t.Fatalf("client %s has no optional scope %s: %+v", c.ClientID, scope, scopes)
	}
	k.Admin(t, http.MethodDelete, "/"+c.Realm+"/clients/"+c.ID+"/optional-client-scopes/"+scopes[i].ID, nil, nil)
}

// doctorReport is the output of one `rp doctor` run, read as an admin
// reads it.
type doctorReport struct {
	rpRun
	findings []finding
}

// finding is one line of doctor's output and its fix line.
type finding struct {
	Status, Check, Detail, Fix string
}

// doctorRun runs `rp doctor` with env and reads its output: lines of
// "  STATUS  check (padded to 22) detail", each maybe followed by a line
// "fix: ..." under the detail.
func doctorRun(t *testing.T, bin string, env map[string]string) doctorReport {
	t.Helper()
	r := doctorReport{rpRun: runRP(t, bin, maps.Clone(env), "doctor")}
	t.Logf("rp doctor: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	for line := range strings.Lines(r.Stdout) {
		line = strings.TrimRight(line, "\n")
		if len(line) < 31 {
			continue
		}
		switch status := strings.TrimSpace(line[:8]); {
		case status == "ok" || status == "WARN" || status == "FAIL":
			r.findings = append(r.findings, finding{Status: status, Check: strings.TrimSpace(line[8:31]), Detail: line[31:]})
		case strings.HasPrefix(line[31:], "fix: ") && len(r.findings) > 0:
			r.findings[len(r.findings)-1].Fix = line[31+len("fix: "):]
		}
	}
	return r
}

// wantExit checks the exit status and the last line.
func (r doctorReport) wantExit(t *testing.T, code int, last string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if r.Code != code || lines[len(lines)-1] != last {
		t.Errorf("rp doctor: exit %d, last line %q; want %d and %q", r.Code, lines[len(lines)-1], code, last)
	}
}

// want checks that check's finding has status and contains detail and fix.
func (r doctorReport) want(t *testing.T, check, status, detail, fix string) {
	t.Helper()
	i := slices.IndexFunc(r.findings, func(f finding) bool { return f.Check == check })
	if i < 0 {
		t.Errorf("rp doctor printed no %q check", check)
		return
	}
	f := r.findings[i]
	if f.Status != status || !strings.Contains(f.Detail, detail) || !strings.Contains(f.Fix, fix) {
		t.Errorf("%s: %s %q (fix: %q); want %s with %q (fix: %q)", check, f.Status, f.Detail, f.Fix, status, detail, fix)
	}
}

// wantFails checks that exactly checks failed.
func (r doctorReport) wantFails(t *testing.T, checks ...string) {
	t.Helper()
	var failed []string
	for _, f := range r.findings {
		if f.Status == "FAIL" {
			failed = append(failed, f.Check)
		}
	}
	if !slices.Equal(failed, checks) {
		t.Errorf("failed checks %q, want %q", failed, checks)
	}
}

// noSecret checks that the secret appears nowhere in what doctor printed.
func (r doctorReport) noSecret(t *testing.T, secret string) {
	t.Helper()
	if strings.Contains(r.Stdout+r.Stderr, secret) {
		t.Error("rp doctor printed the client secret")
	}
}

// answer is Keycloak's answer to one request, redirects not followed.
type answer struct {
	Status   int
	Location string
	Body     string
}

func (a answer) query() url.Values {
	u, err := url.Parse(a.Location)
	if err != nil {
		return nil
	}
	return u.Query()
}

// ask sends req to Keycloak as a browser without cookies would, following
// no redirect.
func (k *keycloak) ask(t *testing.T, req *http.Request) answer {
	t.Helper()
	c := &http.Client{Timeout: cmdTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("Keycloak: %s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("Keycloak: %s %s: %v", req.Method, req.URL, err)
	}
	return answer{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(body)}
}

// tokenAnswer redeems a made-up code at Keycloak's token endpoint as c
// with secret (HTTP Basic) and returns the status and OAuth error.
func (k *keycloak) tokenAnswer(t *testing.T, c client, secret string) (int, string) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {"made-up-" + rand.Text()},
		"redirect_uri": {"http://localhost/callback"}, "code_verifier": {rand.Text() + rand.Text()}}
	req, _ := http.NewRequest(http.MethodPost, k.Direct+"/realms/"+c.Realm+"/protocol/openid-connect/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(secret))
	a := k.ask(t, req)
	var e struct{ Error string }
	json.Unmarshal([]byte(a.Body), &e)
	return a.Status, e.Error
}

// authorizeAnswer asks Keycloak's authorization endpoint, as a browser
// without a session, for a sign-in of c to redirectURI with prompt=none.
func (k *keycloak) authorizeAnswer(t *testing.T, c client, redirectURI, scope string) answer {
	t.Helper()
	q := url.Values{"client_id": {c.ClientID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {scope},
		"state": {"s"}, "nonce": {"n"}, "prompt": {"none"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	req, _ := http.NewRequest(http.MethodGet, k.Issuer(c.Realm)+"/protocol/openid-connect/auth?"+q.Encode(), nil)
	return k.ask(t, req)
}

// logoutAnswer asks Keycloak's end-session endpoint, as a browser without a
// session, to log c out and go to postLogout.
func (k *keycloak) logoutAnswer(t *testing.T, c client, postLogout string) answer {
	t.Helper()
	q := url.Values{"client_id": {c.ClientID}, "post_logout_redirect_uri": {postLogout}}
	req, _ := http.NewRequest(http.MethodGet, k.Issuer(c.Realm)+"/protocol/openid-connect/logout?"+q.Encode(), nil)
	return k.ask(t, req)
}

// discoveredIssuer is the issuer Keycloak's discovery at realmURL names.
func (k *keycloak) discoveredIssuer(t *testing.T, realmURL string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, realmURL+"/.well-known/openid-configuration", nil)
	var doc struct{ Issuer string }
	if err := json.Unmarshal([]byte(k.ask(t, req).Body), &doc); err != nil {
		t.Fatalf("discovery at %s: %v", realmURL, err)
	}
	return doc.Issuer
}
