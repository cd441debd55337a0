// Package apptest runs rp in-process on a real loopback port, for tests
// whose provider must know rp's URL before rp starts.
package apptest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/app"
	"github.com/rp-project/rp/internal/config"
)

// readyWithin bounds the wait for rp to load the provider's metadata.
const readyWithin = 60 * time.Second

// Listen reserves a loopback port for rp and returns the listener and rp's
// base URL on host ("localhost" or "127.0.0.1"): a provider can register
// rp's URIs before rp starts.
func Listen(tb testing.TB, host string) (net.Listener, string) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln, "http://" + host + ":" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// Serve builds rp from the RP_* values in env (RP_ADDR defaults to ln's
// address), serves it on ln until the test ends, and returns once rp has
// loaded the provider's metadata. A nil logger logs to the test's output.
func Serve(tb testing.TB, ln net.Listener, env map[string]string, logger *slog.Logger) *app.App {
	tb.Helper()
	a := Start(tb, ln, env, logger)
	deadline := time.Now().Add(readyWithin)
	for a.OIDC.Ready() != nil {
		if time.Now().After(deadline) {
			tb.Fatalf("rp did not load the provider's metadata within %s: %v", readyWithin, a.OIDC.Ready())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return a
}

// Start is Serve without waiting for the provider's metadata: for tests of
// an rp whose provider does not answer.
func Start(tb testing.TB, ln net.Listener, env map[string]string, logger *slog.Logger) *app.App {
	tb.Helper()
	if env["RP_ADDR"] == "" {
		env["RP_ADDR"] = ln.Addr().String()
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, tb.Output())
	if err != nil {
		ln.Close()
		tb.Fatalf("config: %v", err)
	}
	if logger == nil {
		logger = app.NewLogger(cfg, tb.Output())
	}
	ctx, stop := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Logger: logger})
	if err != nil {
		stop()
		ln.Close()
		tb.Fatalf("app.New: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln, logger) }()
	tb.Cleanup(func() {
		stop()
		select {
		case err := <-served:
			if err != nil && !errors.Is(err, context.Canceled) {
				tb.Errorf("rp Serve: %v", err)
			}
		case <-time.After(readyWithin):
			tb.Error("rp did not stop")
		}
		if err := a.Close(); err != nil {
			tb.Errorf("rp Close: %v", err)
		}
	})
	return a
}
