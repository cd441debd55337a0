package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var sessionIDRE = regexp.MustCompile(`name="session" value="([^"]+)"`)

// sessionsPage returns the sessions page of browser c and the ids of the
// sessions it offers to sign out.
func (h *harness) sessionsPage(c *http.Client) (resp, []string) {
	h.t.Helper()
	r := h.getWith(c, "/sessions")
	if r.StatusCode != http.StatusOK {
		h.t.Fatalf("/sessions: status %d", r.StatusCode)
	}
	var ids []string
	for _, m := range sessionIDRE.FindAllStringSubmatch(r.body, -1) {
		ids = append(ids, m[1])
	}
	return r, ids
}

func (h *harness) postWith(c *http.Client, target string, form url.Values) resp {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.abs(target), strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", h.base)
	return h.do(c, req)
}

func (h *harness) csrfOf(c *http.Client) string {
	h.t.Helper()
	m := csrfRE.FindStringSubmatch(h.getWith(c, "/sessions").body)
	if m == nil {
		h.t.Fatal("no CSRF token on /sessions")
	}
	return m[1]
}

func TestSessionsPageListsAndEndsOnlyTheUsersOwn(t *testing.T) {
	h := newHarness(t)
	phone := h.loginAs("alice", "sid-1")
	bob := h.loginAs("bob", "sid-3")
	laptop := h.loginAs("alice", "sid-2")

	r, ids := h.sessionsPage(laptop)
	if len(ids) != 1 || strings.Count(r.body, "<tr") != 3 || !strings.Contains(r.body, `<span class="tag">This browser</span>`) {
		t.Fatalf("alice's sessions page: ids %v\n%s", ids, r.body)
	}
	_, bobIDs := h.sessionsPage(bob)
	if len(bobIDs) != 0 {
		t.Fatalf("bob's page offers %d other sessions", len(bobIDs))
	}
	if strings.Contains(r.body, "bob") {
		t.Fatal("alice's page mentions bob")
	}

	// Refused: without the CSRF token, from another origin.
	csrf := h.csrfOf(laptop)
	if r := h.postWith(laptop, "/sessions/end", url.Values{"session": {ids[0]}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("without CSRF: status %d", r.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, h.base+"/sessions/end", strings.NewReader(url.Values{"session": {ids[0]}, "csrf_token": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if r := h.do(laptop, req); r.StatusCode != http.StatusForbidden {
		t.Fatalf("from another origin: status %d", r.StatusCode)
	}
	// bob cannot end alice's session by its id.
	if r := h.postWith(bob, "/sessions/end", url.Values{"session": {ids[0]}, "csrf_token": {h.csrfOf(bob)}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob's post: status %d", r.StatusCode)
	}
	if !h.signedIn(phone) {
		t.Fatal("a refused or foreign request ended alice's phone session")
	}

	// "Sign out this one".
	r = h.postWith(laptop, "/sessions/end", url.Values{"session": {ids[0]}, "csrf_token": {csrf}})
	if loc := h.expectRedirect(r, http.StatusSeeOther); loc != "/sessions" {
		t.Fatalf("Location %q", loc)
	}
	if h.signedIn(phone) {
		t.Fatal("the phone session is still signed in")
	}
	if !h.signedIn(laptop) || !h.signedIn(bob) {
		t.Fatal("signing out one session ended others")
	}
	if _, ids := h.sessionsPage(laptop); len(ids) != 0 {
		t.Fatalf("the ended session is still listed: %v", ids)
	}
}

func TestSessionsSignOutEverywhere(t *testing.T) {
	h := newHarness(t)
	phone := h.loginAs("alice", "sid-1")
	bob := h.loginAs("bob", "sid-3")
	laptop := h.loginAs("alice", "sid-2")

	r := h.postWith(laptop, "/sessions/end", url.Values{"all": {"1"}, "csrf_token": {h.csrfOf(laptop)}})
	loc, err := url.Parse(h.expectRedirect(r, http.StatusSeeOther))
	if err != nil || !strings.HasPrefix(loc.String(), h.op.Issuer+"/end-session") {
		t.Fatalf("sign out everywhere: Location %v, want the provider's end_session_endpoint", loc)
	}
	if loc.Query().Get("id_token_hint") == "" || loc.Query().Get("post_logout_redirect_uri") != h.base+"/logged-out" {
		t.Fatalf("end-session request %v", loc)
	}
	if h.signedIn(phone) || h.signedIn(laptop) {
		t.Fatal("a session of alice survived sign out everywhere")
	}
	if !h.signedIn(bob) {
		t.Fatal("sign out everywhere ended another user's session")
	}
}

func TestSessionsPageNeedsSignIn(t *testing.T) {
	h := newHarness(t)
	if loc := h.expectRedirect(h.get("/sessions"), http.StatusSeeOther); loc != "/login?return_to=%2Fsessions" {
		t.Fatalf("Location %q", loc)
	}
	r := h.post("/sessions/end", url.Values{"all": {"1"}}, map[string]string{"Origin": h.base})
	if loc := h.expectRedirect(r, http.StatusSeeOther); !strings.HasPrefix(loc, "/login") {
		t.Fatalf("Location %q", loc)
	}
}
