// Command rp is an OpenID Connect relying party that logs people in through
// an external provider and logs them out for real.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rp-project/rp/internal/app"
	"github.com/rp-project/rp/internal/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run starts rp, or runs `rp doctor`. It returns the exit status: 0 after a clean shutdown, 1 when serving
// fails, 2 for bad settings.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "doctor" {
		return runDoctor(args[1:], getenv, stdout)
	}
	cfg, err := config.Load(args, getenv, stderr)
	if errors.Is(err, config.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "rp: invalid configuration:\n%v\n", err)
		return 2
	}
	logger := app.NewLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg, logger); err != nil {
		logger.Error("rp stopped", "err", err)
		return 1
	}
	return 0
}
