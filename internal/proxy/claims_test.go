package proxy

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestUserFromClaims(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name   string
		claims string
		claim  string
		want   User
	}{
		{"all", `{"sub":"ignored","email":"a@example.com","email_verified":true,"preferred_username":"alice","groups":["a","/b"]}`, "groups",
			User{Identity: Identity{User: "s1", Email: "a@example.com", PreferredUsername: "alice", Groups: []string{"a", "/b"}}, EmailVerified: &yes}},
		{"verified false", `{"email":"a@example.com","email_verified":false}`, "groups",
			User{Identity: Identity{User: "s1", Email: "a@example.com"}, EmailVerified: &no}},
		{"verified as a string", `{"email_verified":"true"}`, "groups", User{Identity: Identity{User: "s1"}, EmailVerified: &yes}},
		{"verified absent", `{"email":"a@example.com"}`, "groups", User{Identity: Identity{User: "s1", Email: "a@example.com"}}},
		{"verified of another type", `{"email_verified":1}`, "groups", User{Identity: Identity{User: "s1"}}},
		{"one group as a string", `{"roles":"admins"}`, "roles", User{Identity: Identity{User: "s1", Groups: []string{"admins"}}}},
		{"non-strings in the array skipped", `{"groups":["a",1,null,{"x":1},"b"]}`, "groups", User{Identity: Identity{User: "s1", Groups: []string{"a", "b"}}}},
		{"groups of another type", `{"groups":{"a":true}}`, "groups", User{Identity: Identity{User: "s1"}}},
		{"other claim name", `{"groups":["a"],"cognito:groups":["b"]}`, "cognito:groups", User{Identity: Identity{User: "s1", Groups: []string{"b"}}}},
		{"no groups claim configured", `{"groups":["a"]}`, "", User{Identity: Identity{User: "s1"}}},
		{"email of another type", `{"email":["a@example.com"]}`, "groups", User{Identity: Identity{User: "s1"}}},
		{"bad JSON", `{"email":`, "groups", User{Identity: Identity{User: "s1"}}},
		{"not an object", `["a"]`, "groups", User{Identity: Identity{User: "s1"}}},
		{"empty", ``, "groups", User{Identity: Identity{User: "s1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := UserFromClaims("s1", json.RawMessage(tc.claims), tc.claim)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v (verified %v), want %+v (verified %v)", got, deref(got.EmailVerified), tc.want, deref(tc.want.EmailVerified))
			}
		})
	}
}

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}
