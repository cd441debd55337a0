package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"sync/atomic"
	"syscall"
	"time"
)

// The servers rpbench starts as processes of their own by running its own
// binary again with a hidden first argument.
const (
	cmdUpstream  = "_upstream"
	cmdBareProxy = "_bare-proxy"
	cmdBarePage  = "_bare-page"
)

// upstreamBody is what the upstream answers on every path but whoamiPath:
// 100 bytes, the same on every request.
var upstreamBody = []byte("rpbench upstream: this is the app behind the proxy, answering with a small fixed body of 100 bytes.\n")

// statsPath answers the number of connections the upstream has accepted
// so far (rpbench asks the upstream directly, never through a proxy).
const statsPath = "/rpbench-stats"

// whoamiPath answers, as JSON, the identity headers and cookie names the
// upstream received: how rpbench checks what each proxy sends the app.
const whoamiPath = "/rpbench-whoami"

func init() {
	if len(upstreamBody) != 100 {
		panic(fmt.Sprintf("upstreamBody is %d bytes", len(upstreamBody)))
	}
}

// Whoami is the whoamiPath answer.
type Whoami struct {
	User, Email, PreferredUsername, Groups string
	Authorization                          bool     // an Authorization header arrived
	Cookies                                []string // names of the cookies that arrived
}

func upstreamHandler(conns *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == statsPath {
			_, _ = fmt.Fprintf(w, "%d\n", conns.Load())
			return
		}
		if r.URL.Path == whoamiPath {
			h := r.Header
			who := Whoami{User: h.Get("X-Forwarded-User"), Email: h.Get("X-Forwarded-Email"),
				PreferredUsername: h.Get("X-Forwarded-Preferred-Username"), Groups: h.Get("X-Forwarded-Groups"),
				Authorization: h.Get("Authorization") != ""}
			for _, c := range r.Cookies() {
				who.Cookies = append(who.Cookies, c.Name)
			}
			sort.Strings(who.Cookies)
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(who)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Length", "100")
		_, _ = w.Write(upstreamBody)
	})
}

// serveSub runs a hidden subcommand: the upstream, the bare proxy or the
// bare page handler, until SIGTERM or SIGINT.
func serveSub(name string, args []string) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	upstream := fs.String("upstream", "", "the upstream (bare proxy)")
	issuer := fs.String("issuer", "", "the issuer shown on the page (bare page)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var h http.Handler
	var conns atomic.Int64
	switch name {
	case cmdUpstream:
		h = upstreamHandler(&conns)
	case cmdBareProxy:
		u, err := url.Parse(*upstream)
		if err != nil || u.Host == "" {
			fmt.Fprintf(os.Stderr, "%s: -upstream: %q is not a URL\n", name, *upstream)
			return 2
		}
		h = bareProxy(u)
	case cmdBarePage:
		var err error
		if h, err = barePageHandler(*issuer); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			return 1
		}
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-sig
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// bareProxy is the baseline proxy: the standard library's ReverseProxy with
// nothing added, keeping enough idle connections to the upstream that none
// is opened per request under load.
func bareProxy(target *url.URL) http.Handler {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: tr,
	}
}

// isSub reports whether args name a hidden subcommand.
func isSub(args []string) bool {
	return len(args) > 0 && (args[0] == cmdUpstream || args[0] == cmdBareProxy || args[0] == cmdBarePage)
}
