package proxy

import (
	"strings"
	"testing"
)

func user(email string, verified *bool, groups ...string) User {
	return User{Identity: Identity{User: "s1", Email: email, Groups: groups}, EmailVerified: verified}
}

func TestRulesGroups(t *testing.T) {
	r := Rules{Groups: []string{"admins", "/org/ops"}}
	for _, tc := range []struct {
		name   string
		groups []string
		ok     bool
	}{
		{"exact", []string{"admins"}, true},
		{"Keycloak full path", []string{"/admins"}, true},
		{"one of several", []string{"staff", "admins"}, true},
		{"rule with a path matches exactly", []string{"/org/ops"}, true},
		{"rule with a path does not match the bare name", []string{"ops", "org/ops"}, false},
		{"nested path is another group", []string{"/other/admins"}, false},
		{"case-sensitive", []string{"Admins", "/ADMINS"}, false},
		{"prefix of a name is not the name", []string{"admin", "admins2", "/admins/x"}, false},
		{"double slash is not the full path", []string{"//admins"}, false},
		{"no groups", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := r.Allow(user("", nil, tc.groups...), "/")
			if ok != tc.ok {
				t.Fatalf("Allow = %v (%s), want %v", ok, reason, tc.ok)
			}
			if !ok && reason != `you are not in any of the groups "admins", "/org/ops"` {
				t.Errorf("reason %q", reason)
			}
		})
	}
}

func TestRulesEmailDomains(t *testing.T) {
	yes, no := true, false
	r := Rules{EmailDomains: []string{"example.com", "Corp.Example.org"}}
	for _, tc := range []struct {
		name     string
		email    string
		verified *bool
		ok       bool
		reason   string
	}{
		{"exact", "a@example.com", &yes, true, ""},
		{"verified unknown", "a@example.com", nil, false, "your email address is not verified by the identity provider"},
		{"case-insensitive", "A@EXAMPLE.COM", &yes, true, ""},
		{"configured in mixed case", "a@corp.example.org", &yes, true, ""},
		{"verified false", "a@example.com", &no, false, "your email address is not verified by the identity provider"},
		{"subdomain", "a@sub.example.com", nil, false, `your email domain is not one of "example.com", "Corp.Example.org"`},
		{"suffix trick", "a@evilexample.com", nil, false, `your email domain is not one of "example.com", "Corp.Example.org"`},
		{"parent of a configured domain", "a@example.org", nil, false, `your email domain is not one of "example.com", "Corp.Example.org"`},
		{"last @ counts", "a@example.com@evil.test", nil, false, `your email domain is not one of "example.com", "Corp.Example.org"`},
		{"trailing dot", "a@example.com.", nil, false, `your email domain "example.com." is not a domain name as written, and only addresses at "example.com", "Corp.Example.org" may pass`},
		{"no email", "", nil, false, `your account has no email address, and only addresses at "example.com", "Corp.Example.org" may pass`},
		{"no @", "example.com", nil, false, `your account has no email address, and only addresses at "example.com", "Corp.Example.org" may pass`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := r.Allow(user(tc.email, tc.verified), "/")
			if ok != tc.ok || reason != tc.reason {
				t.Errorf("Allow = %v %q, want %v %q", ok, reason, tc.ok, tc.reason)
			}
		})
	}
	t.Run("domain configured with @", func(t *testing.T) {
		verified := true
		if ok, reason := (Rules{EmailDomains: []string{"@example.com"}}).Allow(user("a@example.com", &verified), "/"); !ok {
			t.Error(reason)
		}
	})
}

// TestRulesEmailDomainsAreComparedAsWritten: an email's domain passes only
// when it is a domain name exactly as written, apart from ASCII letter case.
// Unicode case folding once let the long s (U+017F) and the Kelvin sign
// (U+212A) stand for "s" and "k", so "a@ſtaff.example" passed a rule for
// staff.example although the provider verified another string. Unicode
// domains match their A-labels (xn--) both ways.
func TestRulesEmailDomainsAreComparedAsWritten(t *testing.T) {
	yes := true
	r := Rules{EmailDomains: []string{"staff.example", "kiosk.example", "bücher.example", "xn--mnchen-3ya.example"}}
	notAsWritten := func(domain string) string {
		return "your email domain " + domain + ` is not a domain name as written, and only addresses at "staff.example", "kiosk.example", "bücher.example", "xn--mnchen-3ya.example" may pass`
	}
	for _, tc := range []struct {
		name   string
		email  string
		ok     bool
		reason string
	}{
		{"ASCII", "a@staff.example", true, ""},
		{"ASCII letter case", "a@STAFF.Example", true, ""},
		{"long s for s", "a@\u017ftaff.example", false, notAsWritten(`"\u017ftaff.example"`)},
		{"Kelvin sign for k", "a@\u212aiosk.example", false, notAsWritten(`"\u212aiosk.example"`)},
		{"fullwidth s", "a@\uff53taff.example", false, notAsWritten(`"\uff53taff.example"`)},
		{"A-label hiding a long s", "a@xn--taff-pbb.example", false, notAsWritten(`"xn--taff-pbb.example"`)},
		{"U-label as configured", "a@bücher.example", true, ""},
		{"A-label of a configured U-label", "a@xn--bcher-kva.example", true, ""},
		{"A-label in capitals", "a@XN--BCHER-KVA.example", true, ""},
		{"U-label of a configured A-label", "a@münchen.example", true, ""},
		{"U-label in capitals", "a@B\u00dcCHER.example", false, notAsWritten(`"B\u00dcCHER.example"`)},
		{"U-label not in NFC", "a@bu\u0308cher.example", false, notAsWritten(`"bu\u0308cher.example"`)},
		{"address literal", "a@[192.0.2.1]", false, notAsWritten(`"[192.0.2.1]"`)},
		{"trailing dot", "a@staff.example.", false, notAsWritten(`"staff.example."`)},
		{"empty domain", "a@", false, notAsWritten(`""`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := r.Allow(user(tc.email, &yes), "/")
			if ok != tc.ok || reason != tc.reason {
				t.Errorf("Allow(%q) = %v %q, want %v %q", tc.email, ok, reason, tc.ok, tc.reason)
			}
		})
	}
	t.Run("a configured domain that is not a domain name matches nothing", func(t *testing.T) {
		r := Rules{EmailDomains: []string{"\u017ftaff.example"}}
		for _, email := range []string{"a@staff.example", "a@\u017ftaff.example"} {
			if ok, _ := r.Allow(user(email, &yes), "/"); ok {
				t.Errorf("%q passed", email)
			}
		}
	})
}

func TestRulesPaths(t *testing.T) {
	r := Rules{Paths: []PathRule{
		{Prefix: "/admin", Groups: []string{"admins"}},
		{Prefix: "/admin/reports", Groups: []string{"auditors"}},
		{Prefix: "/public/", Groups: nil},
		{Prefix: "/shop", Groups: []string{"buyers"}},
	}}
	admin := user("", nil, "admins")
	auditor := user("", nil, "auditors")
	nobody := user("", nil)
	for _, tc := range []struct {
		path string
		u    User
		ok   bool
	}{
		{"/admin", nobody, false},
		{"/admin", admin, true},
		{"/admin/", nobody, false},
		{"/admin/x", nobody, false},
		{"/admin/x", admin, true},
		{"/admin;jsessionid=1", nobody, false},
		{"/admin;jsessionid=1/x", nobody, false},
		// Path parameters in any segment: Tomcat, Jetty and Spring route
		// /api;x/admin as /api/admin (and /;x/admin as /admin).
		{"/;x/admin", nobody, false},
		{"/admin;/x", nobody, false},
		{"/shop;a=b/cart", nobody, false},
		{"/admin.json", nobody, false}, // Rails, older Spring: /admin
		// A backslash inside a path parameter: read as part of it by some
		// servers, as a separator by others (found by FuzzPathRules).
		{`/;\0/Admin`, nobody, false},
		{"/admin.", nobody, false},
		{"//admin", nobody, false},
		{"///admin//x", nobody, false},
		{`/admin\x`, nobody, false},
		{`\admin`, nobody, false},
		{"/administrator", nobody, true},
		{"/admin-panel", nobody, true},
		{"/Admin", nobody, false}, // case ignored: many apps serve /Admin as /admin
		{"/ADMIN/x", nobody, false},
		{"/", nobody, true},
		{"/other", nobody, true},
		// Longest prefix wins: auditors, not admins, below /admin/reports.
		{"/admin/reports", auditor, true},
		{"/admin/reports/q1", auditor, true},
		{"/admin/reports/q1", admin, false},
		{"/admin//reports", admin, false},
		{"/admin/reportsX", admin, true},
		{"/admin/reportsX", auditor, false},
		{"/public", nobody, true},
		{"/public/x", nobody, true},
		{"/shop", nobody, false},
	} {
		t.Run(tc.path+" "+strings.Join(tc.u.Groups, ","), func(t *testing.T) {
			ok, reason := r.Allow(tc.u, tc.path)
			if ok != tc.ok {
				t.Errorf("Allow(%q) = %v %q, want %v", tc.path, ok, reason, tc.ok)
			}
		})
	}
	_, reason := r.Allow(nobody, "/admin/reports/x")
	if reason != `you are not in any of the groups "auditors" needed for /admin/reports` {
		t.Errorf("reason %q", reason)
	}
	t.Run("root prefix covers everything", func(t *testing.T) {
		r := Rules{Paths: []PathRule{{Prefix: "/", Groups: []string{"staff"}}, {Prefix: "/open", Groups: nil}}}
		if ok, _ := r.Allow(nobody, "/x"); ok {
			t.Error("/x allowed without staff")
		}
		if ok, _ := r.Allow(nobody, "/open/x"); !ok {
			t.Error("/open/x refused; the longer rule needs no group")
		}
	})
}

func TestRulesCombined(t *testing.T) {
	r := Rules{
		Groups:       []string{"staff"},
		EmailDomains: []string{"example.com"},
		Paths:        []PathRule{{Prefix: "/admin", Groups: []string{"admins"}}},
	}
	yes := true
	for _, tc := range []struct {
		name string
		u    User
		path string
		ok   bool
	}{
		{"all met", user("a@example.com", &yes, "staff", "/admins"), "/admin/x", true},
		{"path rule adds to Groups", user("a@example.com", &yes, "admins"), "/admin", false},
		{"domain still checked", user("a@other.com", &yes, "staff", "admins"), "/admin", false},
		{"outside the path", user("a@example.com", &yes, "staff"), "/home", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ok, reason := r.Allow(tc.u, tc.path); ok != tc.ok {
				t.Errorf("Allow = %v %q, want %v", ok, reason, tc.ok)
			}
		})
	}
}

func TestRulesEnabled(t *testing.T) {
	for _, tc := range []struct {
		r             Rules
		enabled, path bool
	}{
		{Rules{}, false, false},
		{Rules{Groups: []string{"a"}}, true, false},
		{Rules{EmailDomains: []string{"a.com"}}, true, false},
		{Rules{Paths: []PathRule{{Prefix: "/a", Groups: []string{"a"}}}}, true, true},
	} {
		if tc.r.Enabled() != tc.enabled || tc.r.HasPathRules() != tc.path {
			t.Errorf("%+v: Enabled %v HasPathRules %v", tc.r, tc.r.Enabled(), tc.r.HasPathRules())
		}
	}
	if ok, reason := (Rules{}).Allow(User{}, "/x"); !ok {
		t.Errorf("zero Rules refused: %s", reason)
	}
}

func TestSafePath(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/", true},
		{"/admin", true},
		{"/a/b/", true},
		{"/a..b/c.d/.well-known/...", true},
		{"/a;x=1/b", true},
		{"//admin", true}, // collapsed by the rules, not unsafe
		{"", false},
		{"admin", false},
		{"/a/../admin", false},
		{"/./admin", false},
		{"/a/..", false},
		{"/a/.", false},
		{"/..", false},
		{"/.", false},
		{`/a\..\admin`, false},
		{`/a\.\admin`, false},
		{`\..\admin`, false},
		{"/public/..;/admin", false},
		{"/public/.;x=1/admin", false},
		{"/a\x00b", false},
	} {
		if got := SafePath(tc.path); got != tc.ok {
			t.Errorf("SafePath(%q) = %v, want %v", tc.path, got, tc.ok)
		}
	}
}
