package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

type ctxKey int

const requestIDKey ctxKey = iota

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// withRequestID gives each request a random id, shown on error pages and
// logged with it.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// statusWriter remembers the status and the body's size for the request
// log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps io.Copy's fast path (ReverseProxy copies bodies with it)
// while counting.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withRequestLog logs one line per request. It logs the path only: queries
// carry authorization codes and state.
func (s *Server) withRequestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if s.upstream != nil && !s.ownsPath(r.URL.Path) {
			s.metrics.Proxied(sw.status, time.Since(start))
		}
		d := time.Since(start)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.Int64("bytes", sw.bytes),
			slog.String("request_id", requestID(r.Context())))
	})
}

// withRecover turns a panic into a plain 500 page and a log line.
func (s *Server) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panicked", "panic", v, "path", r.URL.Path, "request_id", requestID(r.Context()))
				s.renderError(w, r, http.StatusInternalServerError, internalError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// withSecurityHeaders sets the headers every response carries. Pages are
// never cached: they hold personal data or single-use state.
func (s *Server) withSecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.setSecurityHeaders(w.Header())
		next.ServeHTTP(w, r)
	})
}

// setSecurityHeaders sets the headers of every page of rp's own, also
// those it answers in the app's place (sign-in needed, no access, app down).
func (s *Server) setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", s.contentSecurityPolicy())
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if s.https {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// contentSecurityPolicy allows no script at all. Forms may post to rp only,
// but the logout form's answer redirects to the provider's end-session
// endpoint, which browsers check against form-action too. It is built once
// the provider's metadata is loaded, not on every response.
func (s *Server) contentSecurityPolicy() string {
	if csp := s.csp.Load(); csp != nil {
		return *csp
	}
	md, err := s.oidc.Metadata()
	if err != nil {
		return buildCSP("") // asked again until the metadata is there
	}
	csp := buildCSP(originOf(md.EndSessionEndpoint))
	s.csp.Store(&csp)
	return csp
}

// originOf is the scheme://host[:port] of an absolute http(s) URL, or "".
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func buildCSP(endSessionOrigin string) string {
	formAction := "'self'"
	if endSessionOrigin != "" {
		formAction += " " + endSessionOrigin
	}
	return "default-src 'none'; style-src 'self'; img-src 'self'; form-action " + formAction +
		"; frame-ancestors 'none'; base-uri 'none'"
}

// withSession loads the browser's session and saves it just before the
// response starts. scs can only send its cookie before the first write, so a
// failure to save replaces the handler's response with an error page rather
// than sending a response whose session change was lost.
func (s *Server) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2, err := s.sessions.Load(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		sw := &sessionWriter{ResponseWriter: w}
		sw.save = func() bool {
			if err := s.sessions.Save(r2.Context(), w); err != nil {
				for _, k := range []string{"Location", "Set-Cookie", "Content-Type", "Content-Length"} {
					w.Header().Del(k)
				}
				s.fail(w, r2, err)
				return false
			}
			return true
		}
		next.ServeHTTP(sw, r2)
		sw.start()
	})
}

// sessionWriter saves the session once, when the response starts.
type sessionWriter struct {
	http.ResponseWriter
	save    func() bool
	started bool
	failed  bool
}

func (w *sessionWriter) start() bool {
	if !w.started {
		w.started = true
		w.failed = !w.save()
	}
	return !w.failed
}

func (w *sessionWriter) WriteHeader(code int) {
	if w.start() {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *sessionWriter) Write(b []byte) (int, error) {
	if !w.start() {
		return len(b), nil // the error page has been sent instead
	}
	return w.ResponseWriter.Write(b)
}

func (w *sessionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
