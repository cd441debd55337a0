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
// same page rp serves a signed-in user at /profile, rendered from rp's own
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

// The shapes rp's templates read (internal/web's pageData and profileData).
type (
	bareUser    struct{ Name, Email, Subject, Issuer string }
	bareClaim   struct{ Name, Value string }
	bareProfile struct {
		SignedIn, SignedInAt, Ends, EndsBy string
		Claims                             []bareClaim
	}
	barePageData struct {
		User      *bareUser
		CSRF      string
		RequestID string
		Data      any
	}
)

// barePageHandler renders rp's profile page for issuer's user "alice" as
// the test provider signs her in.
func barePageHandler(issuer string) (http.Handler, error) {
	t, err := template.New("profile").Funcs(template.FuncMap{
		"route": func(p string) string { return p },
		"home":  func() string { return "/" },
	}).ParseFS(templates.FS, "layout.html", "profile.html")
	if err != nil {
		return nil, fmt.Errorf("parsing rp's profile templates: %w", err)
	}
	q := strconv.Quote
	d := barePageData{
		User: &bareUser{Name: "Alice Example", Email: "alice@example.com", Subject: "alice", Issuer: issuer},
		CSRF: "Yq3b2Hkq0xv1p5mJc8Zr2T4wN6sA9dFgL1eR7uKoPiU",
		Data: bareProfile{SignedIn: "5 minutes ago", SignedInAt: "Fri, 27 Nov 2026 12:00:00 UTC",
			Ends: "in 12 hours, or after 1 hour without use", EndsBy: "Sat, 28 Nov 2026 00:00:00 UTC",
			Claims: []bareClaim{{"aud", q("rp-test")}, {"email", q("alice@example.com")}, {"exp", "1795781100"},
				{"iat", "1795780800"}, {"iss", q(issuer)}, {"name", q("Alice Example")},
				{"preferred_username", q("alice")}, {"sid", q("sid-0123456789")}, {"sub", q("alice")}}},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") != barePageCookie {
			http.Error(w, "not signed in", http.StatusUnauthorized)
			return
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
			http.Error(w, "rendering failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		_, _ = w.Write(buf.Bytes())
	}), nil
}
