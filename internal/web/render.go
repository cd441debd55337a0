package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"

	"github.com/rp-project/rp/internal/oidc"
	"github.com/rp-project/rp/internal/session"
	"github.com/rp-project/rp/templates"
)

// pages holds one parsed template set (layout + page) per page.
type pages map[string]*template.Template

var pageNames = []string{"home", "profile", "logout", "logged_out", "error", "sessions", "frontchannel", "forbidden"}

// parsePages parses every page with funcs: route (a path under rp's
// prefix) and home.
func parsePages(funcs template.FuncMap) (pages, error) {
	p := make(pages, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templates.FS, "layout.html", name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parsing page %s: %w", name, err)
		}
		p[name] = t
	}
	return p, nil
}

// userView is the signed-in user as pages show them.
type userView struct {
	Name    string
	Email   string
	Subject string
	Issuer  string
}

// pageData is what every page gets; Data is the page's own.
type pageData struct {
	Page      string // the page's name, set by render: the header marks its link
	User      *userView
	CSRF      string
	RequestID string
	Data      any
}

func newUserView(l session.Login) *userView {
	var c struct {
		Name              string `json:"name"`
		PreferredUsername string `json:"preferred_username"`
		Email             string `json:"email"`
	}
	_ = json.Unmarshal(l.Claims, &c)
	name := c.Name
	if name == "" {
		name = c.PreferredUsername
	}
	if name == "" {
		name = c.Email
	}
	if name == "" {
		name = l.Subject
	}
	return &userView{Name: name, Email: c.Email, Subject: l.Subject, Issuer: l.Issuer}
}

// data builds the common part of a page for the request's session.
func (s *Server) data(ctx context.Context, pageSpecific any) pageData {
	d := pageData{RequestID: requestID(ctx), Data: pageSpecific}
	if l, ok := s.sessions.Login(ctx); ok {
		d.User = newUserView(l)
	}
	return d
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	var buf bytes.Buffer
	d.Page = name
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		s.log.Error("rendering a page failed", "page", name, "err", err, "request_id", requestID(r.Context()))
		if name != "error" {
			s.renderError(w, r, http.StatusInternalServerError, internalError)
			return
		}
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// problem is what the error page shows: what happened and what to do next,
// in plain words, never an internal error text. The page adds the request
// id for support.
type problem struct {
	Status  int
	Title   string // what happened, short: the page's heading
	Message string // what happened and what to do next
	Detail  string // text from the provider, escaped by the template
	Retry   string // a link to try again, same-origin
	Action  string // the Retry button's words; default "Try again"
}

// internalError is the page of every failure rp has no better words for.
var internalError = problem{Title: "Something went wrong",
	Message: "Something went wrong on our side. Try again; if it keeps happening, tell your administrator."}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, p problem) {
	p.Status = status
	if p.Title == "" {
		p.Title = http.StatusText(status)
	}
	if p.Retry != "" && p.Action == "" {
		p.Action = "Try again"
	}
	d := pageData{RequestID: requestID(r.Context()), Data: p}
	if l, ok := s.sessions.Login(r.Context()); ok {
		d.User = newUserView(l) // the header shows who is still signed in
	}
	s.render(w, r, status, "error", d)
}

// fail maps err to a status and a message for the user, and logs the
// details for operators.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, p := classify(err)
	level := "warn"
	if status >= 500 {
		level = "error"
	}
	attrs := []any{"status", status, "err", err, "path", r.URL.Path, "request_id", requestID(r.Context())}
	if level == "error" {
		s.log.Error("request failed", attrs...)
	} else {
		s.log.Warn("request refused", attrs...)
	}
	s.renderError(w, r, status, p)
}

func classify(err error) (int, problem) {
	switch {
	case errors.Is(err, oidc.ErrNotReady):
		return http.StatusServiceUnavailable, problem{Title: "Sign-in is unavailable",
			Message: "Your organisation's sign-in service is not answering. Try again in a minute.", Retry: "/login"}
	case errors.Is(err, oidc.ErrTimeout):
		return http.StatusGatewayTimeout, problem{Title: "The sign-in service is too slow",
			Message: "Your organisation's sign-in service did not answer in time. Try again in a minute.", Retry: "/login"}
	case errors.Is(err, oidc.ErrKeysThrottled):
		return http.StatusBadGateway, problem{Title: "Sign-in could not be completed yet",
			Message: "The answer from your organisation's sign-in service could not be checked just now, so you are not signed in. Try again in a few seconds.", Retry: "/login"}
	case errors.Is(err, oidc.ErrUnavailable):
		return http.StatusBadGateway, problem{Title: "The sign-in service is not answering",
			Message: "Your organisation's sign-in service is not answering, so you could not be signed in. Try again in a minute.", Retry: "/login"}
	case errors.Is(err, oidc.ErrRejected):
		return http.StatusBadRequest, problem{Title: "Sign-in failed",
			Message: "The answer from your organisation's sign-in service failed a security check, so you are not signed in. Start again.",
			Retry:   "/login", Action: "Start again"}
	case errors.Is(err, session.ErrStore):
		return http.StatusServiceUnavailable, problem{Title: "Sessions are unavailable",
			Message: "Sessions cannot be read or saved right now, so you cannot sign in or out. Try again in a minute."}
	default:
		return http.StatusInternalServerError, internalError
	}
}
