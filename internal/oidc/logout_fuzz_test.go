package oidc

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/testprovider"
)

// The logout-token fuzz targets. Their seed corpora run with every plain
// `go test`; to fuzz one:
//
//	go test ./internal/oidc -run '^$' -fuzz '^FuzzLogoutTokenClaims$' -fuzztime 60s -parallel 1

// fuzzNow is the fuzzed client's clock, fixed so that the times in the
// corpus stay what they were when they were found.
var fuzzNow = time.Unix(1_700_000_000, 0)

// fuzzClient is a client of a fresh test provider, with the fixed clock.
func fuzzClient(tb testing.TB) (*Client, *testprovider.Provider) {
	tb.Helper()
	op := testprovider.New(tb)
	c := New(Settings{Issuer: op.Issuer, DiscoveryURL: op.DiscoveryURL, ClientID: op.ClientID,
		ClientSecret: op.ClientSecret, RedirectURL: "http://rp.test/callback", Scopes: []string{"openid"},
		Now: func() time.Time { return fuzzNow }})
	if err := c.Discover(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return c, op
}

// FuzzVerifyLogoutToken feeds arbitrary strings to VerifyLogoutToken: it
// never panics, and what it accepts passes every claim check (which only a
// token signed by the provider can).
func FuzzVerifyLogoutToken(f *testing.F) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	claims := `{"iss":"http://127.0.0.1:1","aud":"rp-test","iat":1700000000,"jti":"j","sid":"s","events":{"` + testprovider.BackchannelEvent + `":{}}}`
	for _, s := range []string{
		"", ".", "..", "a.b.c", "a.b.c.d.e", strings.Repeat(".", 100),
		b64(`{"alg":"RS256","kid":"k1","typ":"logout+jwt"}`) + "." + b64(claims) + "." + b64("sig"),
		b64(`{"alg":"none"}`) + "." + b64(claims) + ".",
		b64(`{"alg":"HS256","typ":"JWT"}`) + "." + b64(claims) + "." + b64("mac"),
		b64(`{"alg":"RS256","typ":"at+jwt"}`) + "." + b64(claims) + "." + b64("sig"),
		b64(`{"alg":"RS256","crit":["exp"],"exp":1}`) + "." + b64(`[]`) + "." + b64("sig"),
		b64(`{"alg":"RS256"}`) + "." + b64(`null`) + "." + "!!!",
		`{"payload":"e30","signatures":[{"protected":"eyJhbGciOiJSUzI1NiJ9","signature":"AA"}]}`,
		"eyJhbGciOiJSUzI1NiJ9.e30.AA.AA.AA",
	} {
		f.Add(s)
	}
	c, op := fuzzClient(f)
	f.Fuzz(func(t *testing.T, raw string) {
		lt, err := c.VerifyLogoutToken(context.Background(), raw)
		if err == nil {
			fuzzCheckAccepted(t, c, op, raw, lt)
		}
	})
}

// FuzzLogoutTokenClaims signs fuzzed claims with the provider's key, so
// that the signature passes and the claim checks are what is fuzzed. The
// input is a JSON object applied to a valid logout token's claims: a
// member replaces the claim of its name, "-name" removes it, and the
// strings "$iss" and "$aud" stand for the issuer and the client id (at any
// depth). typ is the typ header ("" logout+jwt, "-" none). Times are
// against the fixed clock fuzzNow (1700000000).
func FuzzLogoutTokenClaims(f *testing.F) {
	ev := testprovider.BackchannelEvent
	for _, s := range [][2]string{
		{`{}`, ""},
		{`{}`, "JWT"},
		{`{}`, "-"},
		{`{}`, "application/logout+jwt; charset=utf-8"},
		{`{}`, "at+jwt"},
		{`{"-exp":0}`, ""},
		{`{"-sid":0}`, ""},
		{`{"-sid":0,"-sub":0}`, ""},
		{`{"sid":"","sub":""}`, ""},
		{`{"sid":1}`, ""},
		{`{"nonce":"n"}`, ""},
		{`{"nonce":null}`, ""},
		{`{"Nonce":"n","ISS":"https://evil.example"}`, ""},
		{`{"iss":"https://evil.example"}`, ""},
		{`{"iss":["$iss"]}`, ""},
		{`{"aud":["$aud"]}`, ""},
		{`{"aud":["$aud","other"]}`, ""},
		{`{"aud":["$aud","$aud"],"azp":"$aud"}`, ""},
		{`{"aud":["$aud","$aud"]}`, ""},
		{`{"aud":[]}`, ""},
		{`{"aud":""}`, ""},
		{`{"azp":"other"}`, ""},
		{`{"-iat":0}`, ""},
		{`{"iat":null}`, ""},
		{`{"iat":"1700000000"}`, ""},
		{`{"iat":1699999700}`, ""},
		{`{"iat":1699999600}`, ""},
		{`{"iat":1700000059.9}`, ""},
		{`{"iat":1700000061}`, ""},
		{`{"iat":1e400}`, ""},
		{`{"iat":-1e300}`, ""},
		{`{"exp":1699999900}`, ""},
		{`{"exp":1699999939}`, ""},
		{`{"exp":9e18}`, ""},
		{`{"-jti":0}`, ""},
		{`{"jti":""}`, ""},
		{`{"jti":{}}`, ""},
		{`{"-events":0}`, ""},
		{`{"events":null}`, ""},
		{`{"events":[]}`, ""},
		{`{"events":{}}`, ""},
		{`{"events":{"` + ev + `":null}}`, ""},
		{`{"events":{"` + ev + `":[]}}`, ""},
		{`{"events":{"` + ev + `":"x"}}`, ""},
		{`{"events":{"` + ev + `":{"revoke_offline_access":false}},"typ":"Logout","azp":"$aud"}`, ""},
		{`{"events":{"` + ev + `/":{}}}`, ""},
	} {
		f.Add(s[0], s[1])
	}
	c, op := fuzzClient(f)
	f.Fuzz(func(t *testing.T, patch, typ string) {
		claims, ok := fuzzPatchClaims(op, patch)
		if !ok {
			return
		}
		raw := op.LogoutToken(claims, testprovider.TokenHeader{Typ: typ})
		lt, err := c.VerifyLogoutToken(context.Background(), raw)
		if err == nil {
			fuzzCheckAccepted(t, c, op, raw, lt)
		}
	})
}

// fuzzPatchClaims applies a fuzzed patch to a valid logout token's claims.
func fuzzPatchClaims(op *testprovider.Provider, patch string) (map[string]any, bool) {
	d := json.NewDecoder(strings.NewReader(patch))
	d.UseNumber() // numbers are signed exactly as written
	var p map[string]any
	if err := d.Decode(&p); err != nil || p == nil {
		return nil, false
	}
	claims := op.LogoutClaims("alice", "sid-1")
	claims["iat"] = json.Number("1700000000")
	claims["exp"] = json.Number("1700000120")
	claims["jti"] = "jti-1"
	for k, v := range p {
		if name, ok := strings.CutPrefix(k, "-"); ok {
			delete(claims, name)
			continue
		}
		claims[k] = fuzzSubstitute(op, v)
	}
	return claims, true
}

func fuzzSubstitute(op *testprovider.Provider, v any) any {
	switch v := v.(type) {
	case string:
		switch v {
		case "$iss":
			return op.Issuer
		case "$aud":
			return op.ClientID
		}
	case []any:
		for i := range v {
			v[i] = fuzzSubstitute(op, v[i])
		}
	case map[string]any:
		for k, x := range v {
			v[k] = fuzzSubstitute(op, x)
		}
	}
	return v
}

// fuzzCheckAccepted re-checks an accepted token from its raw claims,
// independently of logout.go: iss is the issuer; aud is the client id and
// names no one else, with azp the client id when there are several (or
// whenever azp is there); iat is present and within LogoutTokenMaxAge
// (give or take the clock skew); exp, when present, has not passed; jti is
// present; sid or sub is present; nonce is absent; events is an object
// whose back-channel member is an object. The LogoutToken returned says
// the same.
func fuzzCheckAccepted(t *testing.T, c *Client, op *testprovider.Provider, raw string, lt *LogoutToken) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("accepted a token of %d parts: %q", len(parts), raw)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("accepted a token whose payload is not base64url: %v", err)
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var claims map[string]any
	if err := d.Decode(&claims); err != nil || claims == nil {
		t.Fatalf("accepted claims that are not a JSON object: %s", payload)
	}
	fail := func(why string) { t.Helper(); t.Fatalf("accepted a token whose %s: %s", why, payload) }
	str := func(name string) (string, bool) { s, ok := claims[name].(string); return s, ok }
	num := func(name string) (float64, bool) {
		n, ok := claims[name].(json.Number)
		if !ok {
			return 0, false
		}
		f, err := n.Float64()
		return f, err == nil && !math.IsInf(f, 0)
	}
	if iss, _ := str("iss"); iss != op.Issuer {
		fail("iss is not the issuer")
	}
	var aud []string
	switch a := claims["aud"].(type) {
	case string:
		aud = []string{a}
	case []any:
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				fail("aud holds a non-string")
			}
			aud = append(aud, s)
		}
	default:
		fail("aud is neither a string nor an array")
	}
	if len(aud) == 0 {
		fail("aud is empty")
	}
	for _, a := range aud {
		if a != op.ClientID {
			fail("aud names someone else")
		}
	}
	if azp, present := claims["azp"]; present || len(aud) > 1 {
		if azp != op.ClientID {
			fail("azp is not the client id")
		}
	}
	skew := c.s.ClockSkew
	iat, ok := num("iat")
	if !ok {
		fail("iat is missing or not a number")
	}
	now := float64(fuzzNow.Unix())
	if iat > now+skew.Seconds() || iat < now-(LogoutTokenMaxAge+skew).Seconds()-1 {
		fail("iat is not recent")
	}
	if _, present := claims["exp"]; present {
		if exp, ok := num("exp"); !ok || exp+skew.Seconds() < now {
			fail("exp is not a number or has passed")
		}
	}
	if jti, _ := str("jti"); jti == "" {
		fail("jti is missing")
	}
	for _, name := range []string{"sid", "sub", "jti", "iss"} {
		if _, ok := str(name); !ok && claims[name] != nil {
			fail(name + " is not a string")
		}
	}
	sid, _ := str("sid")
	sub, _ := str("sub")
	if sid == "" && sub == "" {
		fail("sid and sub are both missing")
	}
	if _, present := claims["nonce"]; present {
		fail("nonce is present")
	}
	events, ok := claims["events"].(map[string]any)
	if !ok {
		fail("events is not an object")
	}
	if _, ok := events[testprovider.BackchannelEvent].(map[string]any); !ok {
		fail("back-channel event is not an object")
	}
	jti, _ := str("jti")
	if lt == nil || lt.Issuer != op.Issuer || lt.Subject != sub || lt.SessionID != sid || lt.ID != jti {
		t.Fatalf("LogoutToken %+v does not say what the claims say: %s", lt, payload)
	}
	if !lt.RememberUntil.After(fuzzNow) {
		t.Fatalf("RememberUntil %v is not after now: %s", lt.RememberUntil, payload)
	}
}
