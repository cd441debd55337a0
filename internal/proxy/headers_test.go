package proxy

import (
	"net/http"
	"slices"
	"testing"
)

func TestStripIdentity(t *testing.T) {
	h := http.Header{
		"X-Forwarded-User":               {"a", "b"},
		"x-forwarded-user":               {"c"},
		"X-FORWARDED-EMAIL":              {"d"},
		"X_Forwarded_User":               {"e"},
		"X_forwarded_preferred_username": {"f"},
		"x-Forwarded_Groups":             {"g"},
		"Authorization":                  {"Bearer x"},
		"AUTHORIZATION":                  {"Basic y"},
		"X-Forwarded-Users":              {"kept: another header"},
		"X-Forwarded-For":                {"kept"},
		"Accept":                         {"kept"},
	}
	kept := []string{"X-Forwarded-Users", "X-Forwarded-For", "Accept"}

	h1 := h.Clone()
	StripIdentity(h1, false)
	if want := append(slices.Clone(kept), "Authorization", "AUTHORIZATION"); !sameKeys(h1, want) {
		t.Errorf("without Authorization: left %v, want %v", keys(h1), want)
	}
	h2 := h.Clone()
	StripIdentity(h2, true)
	if !sameKeys(h2, kept) {
		t.Errorf("with Authorization: left %v, want %v", keys(h2), kept)
	}
}

func keys(h http.Header) []string {
	var ks []string
	for k := range h {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func sameKeys(h http.Header, want []string) bool {
	want = slices.Clone(want)
	slices.Sort(want)
	return slices.Equal(keys(h), want)
}

func TestSetIdentity(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   Identity
		want http.Header
	}{
		{"full", Identity{User: "u1", Email: "a@example.com", PreferredUsername: "alice", Groups: []string{"a", "/b/c"}, AccessToken: "tok"},
			http.Header{HeaderUser: {"u1"}, HeaderEmail: {"a@example.com"}, HeaderPreferredUsername: {"alice"}, HeaderGroups: {"a,/b/c"}, "Authorization": {"Bearer tok"}}},
		{"empty values not sent", Identity{User: "u1"}, http.Header{HeaderUser: {"u1"}}},
		{"nothing", Identity{}, http.Header{}},
		{"control characters removed", Identity{User: "u1\r\nX-Evil: 1", Email: "a\x00@exa\tmple.com\x7f", PreferredUsername: "\x1b[31mred"},
			http.Header{HeaderUser: {"u1X-Evil: 1"}, HeaderEmail: {"a@example.com"}, HeaderPreferredUsername: {"[31mred"}}},
		{"only controls: not sent", Identity{User: "u1", Email: "\r\n"}, http.Header{HeaderUser: {"u1"}}},
		{"surrounding spaces trimmed", Identity{User: " u1 "}, http.Header{HeaderUser: {"u1"}}},
		{"bad groups dropped", Identity{User: "u1", Groups: []string{"ok", "a,b", "c\nd", "", " admins", "x y"}},
			http.Header{HeaderUser: {"u1"}, HeaderGroups: {"ok,x y"}}},
		{"all groups bad: no header", Identity{User: "u1", Groups: []string{"a,b"}}, http.Header{HeaderUser: {"u1"}}},
		{"unicode kept", Identity{User: "u1", PreferredUsername: "José"}, http.Header{HeaderUser: {"u1"}, HeaderPreferredUsername: {"José"}}},
		{"token with CRLF", Identity{User: "u1", AccessToken: "tok\r\nX: y"}, http.Header{HeaderUser: {"u1"}, "Authorization": {"Bearer tokX: y"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			SetIdentity(h, tc.id)
			if !equalHeader(h, tc.want) {
				t.Errorf("got %q, want %q", h, tc.want)
			}
		})
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
