package app

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// ShutdownOnSignal returns a context that ends on the first SIGTERM or
// SIGINT (the graceful shutdown), or when cancelled. By the time it ends,
// both signals have their default action back, so a second one ends rp at
// once, even when it comes the moment the shutdown starts. (With
// signal.NotifyContext and a goroutine calling its stop after the context
// ended, a second signal arriving before that goroutine ran was swallowed,
// and rp went on draining for up to RP_SHUTDOWN_TIMEOUT.)
func ShutdownOnSignal(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
		}
		signal.Stop(sigs) // the default action is back before ctx ends
		cancel()
	}()
	return ctx, cancel
}
