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
		{"trailing dot", "a@example.com.", nil, false, `your email domain is not one of "example.com", "Corp.Example.org"`},
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
