package proxy

import "encoding/json"

// User is what the access rules look at.
type User struct {
	Identity
	EmailVerified *bool // nil when the claims do not say
}

// UserFromClaims builds a User from the provider's claims, a JSON object:
// User is sub; Email, PreferredUsername and EmailVerified come from
// "email", "preferred_username" and "email_verified" (a boolean, or the
// strings "true" and "false" that some providers send); Groups from the
// claim named groupsClaim, an array of strings (other elements skipped) or
// a single string. Claims of other types are ignored, and claims that are
// not a JSON object give a User with just sub. AccessToken is left empty.
func UserFromClaims(sub string, claims json.RawMessage, groupsClaim string) User {
	u := User{Identity: Identity{User: sub}}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(claims, &m); err != nil {
		return u
	}
	u.Email = claimString(m["email"])
	u.PreferredUsername = claimString(m["preferred_username"])
	u.EmailVerified = claimBool(m["email_verified"])
	if groupsClaim != "" {
		u.Groups = claimStrings(m[groupsClaim])
	}
	return u
}

func claimString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func claimBool(raw json.RawMessage) *bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return &b
	}
	switch claimString(raw) {
	case "true":
		b = true
		return &b
	case "false":
		return &b
	}
	return nil
}

func claimStrings(raw json.RawMessage) []string {
	if s := claimString(raw); s != "" {
		return []string{s}
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	var out []string
	for _, it := range items {
		var s string
		// null would decode as "" without an error: strings only.
		if len(it) > 0 && it[0] == '"' && json.Unmarshal(it, &s) == nil {
			out = append(out, s)
		}
	}
	return out
}
