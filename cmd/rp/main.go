// Command rp is an OpenID Connect relying party that logs people in through
// an external provider and logs them out for real.
//
//	rp               serve (settings from RP_* variables or flags; rp -h lists them)
//	rp doctor        check the settings against the live provider
//	rp healthcheck   exit 0 when the rp on RP_ADDR is ready (for container health checks)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rp-project/rp/internal/app"
	"github.com/rp-project/rp/internal/config"
	"github.com/rp-project/rp/internal/logbuf"
	"github.com/rp-project/rp/internal/proxy"
	"github.com/rp-project/rp/internal/session"
)

// logFlushDelay bounds how late a request's log line is written: one
// write per batch instead of one per request.
const logFlushDelay = 100 * time.Millisecond

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run serves rp or runs a subcommand, and returns the exit status: 0 when
// all went well, 1 when serving (or the subcommand's check) failed, 2 for
// bad settings.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "doctor":
			return runDoctor(args[1:], getenv, stdout)
		case "healthcheck":
			return runHealthcheck(args[1:], getenv, stderr)
		}
	}
	cfg, code, ok := loadConfig("rp", args, getenv, stderr)
	if !ok {
		return code
	}
	// Lines are written in batches, at most logFlushDelay late (WARN and
	// above at once), and every one when run returns. A second signal or
	// a crash outside a handler ends rp without it: up to logFlushDelay of
	// INFO lines can be lost then.
	logs := logbuf.New(stderr, logFlushDelay)
	defer logs.Close()
	logger := app.NewLogger(cfg, logs)
	// go-redis logs failed dials by itself while Redis is down: into rp's
	// log too. It has one logger per process, so it is set here.
	session.LogRedisTo(logger)
	// SIGTERM or SIGINT starts a graceful shutdown (app.Serve); a second
	// one ends rp at once, as signals do by default.
	ctx, stop := app.ShutdownOnSignal(context.Background())
	defer stop()
	if err := app.Run(ctx, cfg, logger); err != nil {
		logger.Error("rp stopped", "err", err)
		return 1
	}
	return 0
}

// loadConfig reads and validates the settings. When ok is false the
// command ends with code: 0 after -h, 2 for bad settings (all of them
// named on w).
func loadConfig(command string, args []string, getenv func(string) string, w io.Writer) (cfg config.Config, code int, ok bool) {
	cfg, err := config.Load(args, getenv, w)
	if errors.Is(err, config.ErrHelp) {
		return cfg, 0, false
	}
	// The list of headers rp removes is the proxy's: config checks the
	// names' spelling, this whether each is on the list.
	if perr := proxy.CheckPassClientHeaders(cfg.PassClientHeaders); perr != nil {
		err = errors.Join(err, fmt.Errorf("RP_PASS_CLIENT_HEADERS: %w", perr))
	}
	if err != nil {
		fmt.Fprintf(w, "%s: invalid configuration:\n%v\n", command, err)
		return cfg, 2, false
	}
	return cfg, 0, true
}
