// Command rp-dev runs rp with a development OpenID provider on loopback, so
// that the whole round trip can be tried without Docker or an account
// anywhere:
//
//	go run ./cmd/rp-dev
//
// then open http://localhost:8080 and sign in as alice (password alice) or
// bob (password bob). rp listens on 127.0.0.1:8080, the provider
// (internal/devop, issuer http://localhost:9096) on 127.0.0.1:9096. Sessions
// live in a SQLite file in a temporary directory that is removed on exit:
// the provider keeps its users' sessions and signing key in memory, so rp's
// sessions must not outlive it (a stale id_token_hint would make logout
// fail at the new provider). RP_LOG_LEVEL and RP_LOG_FORMAT are taken from
// the environment; every other setting is fixed. Never use this command in
// production: cmd/rp is the server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/rp-project/rp/internal/app"
	"github.com/rp-project/rp/internal/config"
	"github.com/rp-project/rp/internal/devop"
)

const (
	rpAddr       = "127.0.0.1:8080"
	rpBaseURL    = "http://localhost:8080"
	opAddr       = "127.0.0.1:9096"
	opIssuer     = "http://localhost:9096"
	clientID     = "rp-dev"
	clientSecret = "rp-dev-secret-not-for-production"
)

func main() {
	os.Exit(run(os.Getenv, os.Stdout, os.Stderr))
}

func run(env func(string) string, stdout, stderr io.Writer) int {
	dir, err := os.MkdirTemp("", "rp-dev-")
	if err != nil {
		fmt.Fprintf(stderr, "rp-dev: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)

	settings := map[string]string{
		"RP_ISSUER":        opIssuer,
		"RP_CLIENT_ID":     clientID,
		"RP_CLIENT_SECRET": clientSecret,
		"RP_BASE_URL":      rpBaseURL,
		"RP_ADDR":          rpAddr,
		"RP_SESSION_STORE": "sqlite:" + filepath.Join(dir, "sessions.db"),
		"RP_LOG_LEVEL":     env("RP_LOG_LEVEL"),
		"RP_LOG_FORMAT":    env("RP_LOG_FORMAT"),
	}
	cfg, err := config.Load(nil, func(k string) string { return settings[k] }, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rp-dev: invalid configuration:\n%v\n", err)
		return 2
	}
	logger := app.NewLogger(cfg, stderr)
	// The provider library logs through the default logger.
	slog.SetDefault(logger.With("component", "devop"))

	// Ctrl-C starts a graceful shutdown; a second one ends rp-dev at once.
	ctx, stop := app.ShutdownOnSignal(context.Background())
	defer stop()

	op, err := devop.Start(ctx, devop.Options{
		Addr:                   opAddr,
		Issuer:                 opIssuer,
		ClientID:               cfg.ClientID,
		ClientSecret:           cfg.ClientSecret,
		RedirectURIs:           []string{cfg.RedirectURL()},
		PostLogoutRedirectURIs: []string{cfg.PostLogoutRedirectURL()},
		Logger:                 logger,
	})
	if err != nil {
		logger.Error("starting the development provider", "err", err)
		return 1
	}
	defer op.Close()

	a, err := app.New(ctx, cfg, app.Options{Logger: logger})
	if err != nil {
		logger.Error("building rp", "err", err)
		return 1
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		logger.Error("listening", "addr", cfg.Addr, "err", err)
		return 1
	}
	waitReady(ctx, a, 5*time.Second)
	banner(stdout)

	if err := a.Serve(ctx, ln, logger); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("rp stopped", "err", err)
		return 1
	}
	return 0
}

// waitReady gives discovery a moment, so that the first click works.
func waitReady(ctx context.Context, a *app.App, limit time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for a.OIDC.Ready() != nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func banner(w io.Writer) {
	fmt.Fprintf(w, "\nrp development mode: open %s\n", rpBaseURL)
	fmt.Fprintf(w, "  development provider: %s (loopback only, in memory)\n", opIssuer)
	fmt.Fprintln(w, "  demo users (username / password):")
	for _, u := range devop.DemoUsers() {
		fmt.Fprintf(w, "    %-8s / %-8s %s\n", u.Username, u.Password, u.Name)
	}
	fmt.Fprint(w, "  stop with Ctrl-C\n\n")
}
