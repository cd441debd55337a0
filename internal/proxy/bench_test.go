package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
)

// benchWriter is a ResponseWriter that, like the server's, supports
// deadlines, so Serve's clearing of them costs what it costs in production.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header              { return w.h }
func (w *benchWriter) Write(p []byte) (int, error)      { return len(p), nil }
func (w *benchWriter) WriteHeader(code int)             { w.code = code }
func (w *benchWriter) SetReadDeadline(time.Time) error  { return nil }
func (w *benchWriter) SetWriteDeadline(time.Time) error { return nil }
func (w *benchWriter) reset()                           { clear(w.h); w.code = 0 }
func newBenchWriter() *benchWriter                      { return &benchWriter{h: http.Header{}} }

// benchRequest is a browser's request with rp's cookie and a spoof attempt.
func benchRequest() *http.Request {
	r := httptest.NewRequest("GET", "http://app.example.com/reports/q1?year=2025", nil)
	r.RemoteAddr = "203.0.113.9:51000"
	r.Header = http.Header{
		"Accept":           {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		"Accept-Encoding":  {"gzip, deflate, br"},
		"Accept-Language":  {"en-US,en;q=0.9"},
		"User-Agent":       {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
		"Cookie":           {"theme=dark; rp_session=4Wb2mVZbq0rOzq1gB2hC9xH3kL5pN7rT; lang=en"},
		"X-Forwarded-User": {"evil"},
	}
	return r
}

func benchUpstream(b *testing.B) (*url.URL, *http.Transport) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok")
	}))
	b.Cleanup(up.Close)
	tr := newTransport(time.Minute)
	b.Cleanup(tr.CloseIdleConnections)
	return mustURL(b, up.URL), tr
}

// benchIdentity is a typical user.
func benchIdentity() Identity {
	return Identity{
		User:              "f1c3a1d2-5b6e-4c7d-8e9f-0a1b2c3d4e5f",
		Email:             "alice@example.com",
		PreferredUsername: "alice",
		Groups:            []string{"staff", "/admins"},
	}
}

// BenchmarkProxy compares Serve with a bare httputil.ReverseProxy (SetURL
// and SetXForwarded) on the same transport, and with the design Serve
// avoids: a ReverseProxy with closures per request (for rewrite, and for
// the error handler to see the inbound request).
func BenchmarkProxy(b *testing.B) {
	target, tr := benchUpstream(b)
	u := New(Options{URL: target, Transport: tr, Proto: "https", CookieName: "rp_session"})
	bare := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: tr,
	}
	run := func(b *testing.B, serve func(w http.ResponseWriter, r *http.Request)) {
		b.ReportAllocs()
		w, r := newBenchWriter(), benchRequest()
		for b.Loop() {
			w.reset()
			serve(w, r)
			if w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
		}
	}
	b.Run("Serve", func(b *testing.B) {
		run(b, func(w http.ResponseWriter, r *http.Request) { u.Serve(w, r, benchIdentity()) })
	})
	b.Run("BareReverseProxy", func(b *testing.B) {
		run(b, bare.ServeHTTP)
	})
	b.Run("ClosurePerRequest", func(b *testing.B) {
		run(b, func(w http.ResponseWriter, r *http.Request) {
			id := benchIdentity()
			rp := *u.rp
			rp.Rewrite = func(pr *httputil.ProxyRequest) { u.rewriteFor(pr, id) }
			rp.ErrorHandler = func(w http.ResponseWriter, out *http.Request, err error) { u.handleErrorFor(w, r, out, err) }
			rp.ServeHTTP(w, r)
		})
	})
	parallel := func(b *testing.B, serve func(w http.ResponseWriter, r *http.Request)) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w, r := newBenchWriter(), benchRequest()
			for pb.Next() {
				w.reset()
				serve(w, r)
			}
		})
	}
	b.Run("Serve/parallel", func(b *testing.B) {
		parallel(b, func(w http.ResponseWriter, r *http.Request) { u.Serve(w, r, benchIdentity()) })
	})
	b.Run("BareReverseProxy/parallel", func(b *testing.B) {
		parallel(b, bare.ServeHTTP)
	})
}

// BenchmarkHeaders measures rp's own header work on a browser's request:
// the clone the ReverseProxy makes, then stripping and setting.
func BenchmarkHeaders(b *testing.B) {
	in := benchRequest().Header
	b.ReportAllocs()
	for b.Loop() {
		h := in.Clone()
		StripIdentity(h, false)
		stripClientIdentity(h, nil)
		StripCookie(h, "rp_session")
		SetIdentity(h, benchIdentity())
	}
}

// browserHeaders are the 15 headers Chromium sends on a navigation, with
// rp's cookie: nothing in them is removed.
func browserHeaders() http.Header {
	return http.Header{
		"Accept":                    {"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"},
		"Accept-Encoding":           {"gzip, deflate, br, zstd"},
		"Accept-Language":           {"en-US,en;q=0.9"},
		"Cache-Control":             {"max-age=0"},
		"Cookie":                    {"theme=dark; rp_session=4Wb2mVZbq0rOzq1gB2hC9xH3kL5pN7rT; lang=en"},
		"Priority":                  {"u=0, i"},
		"Referer":                   {"https://app.example.com/reports"},
		"Sec-Ch-Ua":                 {`"Chromium";v="131", "Not_A Brand";v="24"`},
		"Sec-Ch-Ua-Mobile":          {"?0"},
		"Sec-Ch-Ua-Platform":        {`"Linux"`},
		"Sec-Fetch-Dest":            {"document"},
		"Sec-Fetch-Mode":            {"navigate"},
		"Sec-Fetch-Site":            {"same-origin"},
		"Upgrade-Insecure-Requests": {"1"},
		"User-Agent":                {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
	}
}

// BenchmarkStripHeaders measures the name comparisons alone: every removal
// rewriteFor makes, from an untrusted peer, on a browser's 15 headers, of
// which none is removed (so the same map serves every iteration).
func BenchmarkStripHeaders(b *testing.B) {
	h := browserHeaders()
	n := len(h)
	b.ReportAllocs()
	for b.Loop() {
		stripSpellings(h, "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto")
		stripSpellings(h, urlHeaders...)
		stripSpellings(h, forwardingHeaders...)
		StripIdentity(h, true)
		stripClientIdentity(h, nil)
	}
	if len(h) != n {
		b.Fatalf("%d of %d headers removed", n-len(h), n)
	}
}
