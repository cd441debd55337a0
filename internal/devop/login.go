package devop

import (
	"context"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/rp-project/rp/internal/origin"
)

const (
	loginPath          = "/login"
	loggedOutPath      = "/logged-out"
	authRequestIDParam = "authRequestID"
	// sessionCookie names the provider's browser session. Cookies ignore
	// ports, so on localhost it sits next to rp's rp_session: the names
	// must differ.
	sessionCookie = "devop_session"
	maxFormBytes  = 16 << 10
)

// ui serves the provider's own pages: the sign-in form (the library leaves
// login to its user), a home page and the default page after logout.
type ui struct {
	st       *storage
	provider *op.Provider
	issuer   string
	origin   string // scheme://host of the issuer, for the Origin check
	secure   bool   // https issuer: Secure cookies
}

type cookieSessionKey struct{}

// cookieSessionFrom returns the provider session id that the end_session
// request's cookie carried, put there by ui.endSession.
func cookieSessionFrom(ctx context.Context) string {
	s, _ := ctx.Value(cookieSessionKey{}).(string)
	return s
}

func (u *ui) routes() http.Handler {
	mux := http.NewServeMux()
	callback := op.NewIssuerInterceptor(u.provider.IssuerFromRequest)
	mux.HandleFunc("GET /{$}", u.home)
	mux.Handle("GET "+loginPath, callback.HandlerFunc(u.loginForm))
	mux.Handle("POST "+loginPath, callback.HandlerFunc(u.login))
	mux.HandleFunc("GET "+loggedOutPath, u.loggedOut)
	mux.Handle(u.provider.EndSessionEndpoint().Relative(), u.endSession(u.provider))
	mux.Handle("/", u.provider)
	return securityHeaders(mux)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// No form-action: browsers apply it to the redirect that follows the
		// sign-in POST, which leaves for rp's origin.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// loginForm serves GET /login?authRequestID=..., where the library sends
// the browser after /authorize. A live provider session signs in without
// the form (single sign-on) unless the client asked for prompt=login or a
// max_age it exceeds.
func (u *ui) loginForm(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get(authRequestIDParam)
	ar, err := u.st.AuthRequestByID(r.Context(), id)
	if err != nil {
		u.render(w, http.StatusBadRequest, "error", pageData{Message: "This sign-in request is unknown or has expired. Go back to the application and sign in again."})
		return
	}
	req := ar.(*authRequest)
	if bs, ok := u.browserSession(r); ok && !slices.Contains(req.prompt, oidc.PromptLogin) && fresh(bs, req.maxAge, u.st.now()) {
		if err := u.st.completeRequest(id, bs); err != nil {
			u.render(w, http.StatusBadRequest, "error", pageData{Message: err.Error()})
			return
		}
		u.st.log.Info("devop: signed in by the existing provider session", "user", bs.subject)
		http.Redirect(w, r, op.AuthCallbackURL(u.provider)(r.Context(), id), http.StatusFound)
		return
	}
	if slices.Contains(req.prompt, oidc.PromptNone) {
		op.AuthRequestError(w, r, req, oidc.ErrLoginRequired(), u.provider)
		return
	}
	u.render(w, http.StatusOK, "login", pageData{ID: id, ClientID: req.clientID, Users: u.st.users})
}

// login serves POST /login, the form's submission.
func (u *ui) login(w http.ResponseWriter, r *http.Request) {
	if !origin.Same(r, u.origin) {
		u.render(w, http.StatusForbidden, "error", pageData{Message: "This sign-in came from another site and was refused."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		u.render(w, http.StatusBadRequest, "error", pageData{Message: "The sign-in form could not be read."})
		return
	}
	id := r.PostForm.Get("id")
	ar, err := u.st.AuthRequestByID(r.Context(), id)
	if err != nil {
		u.render(w, http.StatusBadRequest, "error", pageData{Message: "This sign-in request is unknown or has expired. Go back to the application and sign in again."})
		return
	}
	username := r.PostForm.Get("username")
	user, ok := u.st.checkPassword(username, r.PostForm.Get("password"))
	if !ok {
		u.st.log.Info("devop: wrong username or password", "username", username)
		u.render(w, http.StatusUnauthorized, "login", pageData{ID: id, ClientID: ar.GetClientID(), Users: u.st.users,
			Username: username, Error: "Wrong username or password."})
		return
	}
	bs := u.st.newSession(user.Subject)
	if err := u.st.completeRequest(id, bs); err != nil {
		u.render(w, http.StatusBadRequest, "error", pageData{Message: err.Error()})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: bs.id, Path: "/", HttpOnly: true, Secure: u.secure, SameSite: http.SameSiteLaxMode})
	u.st.log.Info("devop: signed in", "user", user.Username, "sub", user.Subject)
	http.Redirect(w, r, op.AuthCallbackURL(u.provider)(r.Context(), id), http.StatusSeeOther)
}

func (u *ui) browserSession(r *http.Request) (*browserSession, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	return u.st.session(c.Value)
}

// fresh applies the auth request's max_age to a provider session.
func fresh(bs *browserSession, maxAge *uint, now time.Time) bool {
	return maxAge == nil || now.Sub(bs.authTime) <= time.Duration(*maxAge)*time.Second
}

// endSession wraps the library's end_session endpoint: it hands the
// browser's provider session to TerminateSessionFromRequest through the
// context, and clears the cookie when the endpoint redirects (succeeds).
func (u *ui) endSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), cookieSessionKey{}, c.Value))
		expired := &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: u.secure, SameSite: http.SameSiteLaxMode}
		next.ServeHTTP(&clearOnRedirect{ResponseWriter: w, cookie: expired}, r)
	})
}

type clearOnRedirect struct {
	http.ResponseWriter
	cookie *http.Cookie
}

func (w *clearOnRedirect) WriteHeader(code int) {
	if code == http.StatusFound || code == http.StatusSeeOther {
		http.SetCookie(w.ResponseWriter, w.cookie)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (u *ui) home(w http.ResponseWriter, _ *http.Request) {
	u.render(w, http.StatusOK, "home", pageData{Issuer: u.issuer, ClientID: u.st.client.id, Users: u.st.users})
}

// loggedOut is where end_session sends a browser that named no (valid)
// post_logout_redirect_uri.
func (u *ui) loggedOut(w http.ResponseWriter, _ *http.Request) {
	u.render(w, http.StatusOK, "logged_out", pageData{})
}

type pageData struct {
	ID, ClientID, Issuer string
	Username, Error      string
	Message              string
	Users                []User
}

func (u *ui) render(w http.ResponseWriter, status int, name string, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, d); err != nil {
		u.st.log.Error("devop: rendering", "page", name, "err", err)
	}
}

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}} · rp development provider</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}
.dev{background:#fff3cd;border:1px solid #e0c46c;padding:.5rem .75rem;border-radius:4px;font-size:.9rem}
label{display:block;margin-top:.75rem}input{font:inherit;width:100%;padding:.35rem;box-sizing:border-box}
button{font:inherit;margin-top:1rem;padding:.4rem 1.2rem}.error{color:#b00020}
table{border-collapse:collapse;margin-top:.5rem}td,th{border:1px solid #ccc;padding:.2rem .6rem;text-align:left}
code{background:#f2f2f2;padding:0 .2rem}
</style></head><body>
<p class="dev">Development OpenID provider for rp. Not for production: users and passwords are public, everything lives in memory.</p>
{{end}}
{{define "users"}}<table><tr><th>username</th><th>password</th><th>name</th></tr>
{{range .}}<tr><td><code>{{.Username}}</code></td><td><code>{{.Password}}</code></td><td>{{.Name}}</td></tr>{{end}}
</table>{{end}}

{{define "login"}}{{template "head" "Sign in"}}
<h1>Sign in</h1>
<p>to continue to <strong>{{.ClientID}}</strong></p>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="id" value="{{.ID}}">
<label for="username">Username</label>
<input id="username" name="username" value="{{.Username}}" autocomplete="username" autofocus required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<h2>Demo users</h2>
{{template "users" .Users}}
</body></html>{{end}}

{{define "home"}}{{template "head" "Home"}}
<h1>rp development provider</h1>
<p>Issuer <code>{{.Issuer}}</code>, client <code>{{.ClientID}}</code>.
<a href="/.well-known/openid-configuration">Discovery document</a>.</p>
<p>Sign in through the application, not here.</p>
<h2>Demo users</h2>
{{template "users" .Users}}
</body></html>{{end}}

{{define "logged_out"}}{{template "head" "Signed out"}}
<h1>Signed out</h1>
<p>You are signed out of the development provider.</p>
</body></html>{{end}}

{{define "error"}}{{template "head" "Error"}}
<h1>Sign-in problem</h1>
<p class="error">{{.Message}}</p>
</body></html>{{end}}
`))
