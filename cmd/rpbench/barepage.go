package main

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strconv"

	"github.com/rp-project/rp/templates"
)

// The pages scenario's baseline: a bare net/http handler that serves the
// page rp serves a signed-in user at /profile, rendered from rp's own
// templates with html/template, for a request carrying its one valid
// cookie. It has no session store, no middleware (request id, request log,
// security headers, panic recovery) and no sign-in: what rp adds to a
// signed-in page is the difference.

// barePageCookie is the only cookie the bare handler accepts.
const barePageCookie = "session=rpbench-bare-page"

// pageMarker is in the body of /profile for the test provider's user, on
// rp and on the bare handler alike: the load generator counts an answer as
// a success when its body holds it.
var pageMarker = []byte("<h1>Alice Example</h1>")

// barePageData is what rp's templates read for the profile page, with the
// test provider's user and the claims of its ID token (internal/web's
// pageData, profileData and claimRow have these fields). Maps rather than
// copies of rp's types: a field rp adds later renders as "<no value>"
// instead of failing, and TestBarePage notices a template that no longer
// renders.
func barePageData(issuer string) map[string]any {
	const at, ends = "27 Nov 2026, 12:00 UTC", "28 Nov 2026, 00:00 UTC"
	claim := func(name, value string) map[string]any { return map[string]any{"Name": name, "Value": value} }
	return map[string]any{
		"Page":      "profile",
		"User":      map[string]any{"Name": "Alice Example", "Email": "alice@example.com", "Subject": "alice", "Issuer": issuer},
		"CSRF":      "Yq3b2Hkq0xv1p5mJc8Zr2T4wN6sA9dFgL1eR7uKoPiU",
		"RequestID": "",
		"Data": map[string]any{
			"SignedIn": "5 minutes ago", "SignedInAt": at, "SignedInISO": "2026-11-27T12:00:00Z",
			"Ends": "in 12 hours, or after 1 hour without use", "EndsBy": ends, "EndsByISO": "2026-11-28T00:00:00Z",
			"Claims": []map[string]any{
				claim("aud", "rp-test"), claim("email", "alice@example.com"),
				claim("exp", "1795781100 ("+at+")"), claim("iat", "1795780800 ("+at+")"),
				claim("iss", issuer), claim("name", "Alice Example"), claim("preferred_username", "alice"),
				claim("sid", "sid-0123456789"), claim("sub", "alice"),
			},
		},
	}
}

// barePageHandler renders rp's profile page for issuer's user "alice" as
// the test provider signs her in.
func barePageHandler(issuer string) (http.Handler, error) {
	t, err := template.New("profile").Funcs(template.FuncMap{
		"route": func(p string) string { return p },
		"home":  func() string { return "/" },
		"brand": func() string { return "rp" },
		"logo":  func() string { return "" },
	}).ParseFS(templates.FS, "layout.html", "profile.html")
	if err != nil {
		return nil, fmt.Errorf("parsing rp's profile templates: %w", err)
	}
	d := barePageData(issuer)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") != barePageCookie {
			http.Error(w, "not signed in", http.StatusUnauthorized)
			return
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
			http.Error(w, "rendering failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		_, _ = w.Write(buf.Bytes())
	}), nil
}
