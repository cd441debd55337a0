//go:build unix

package app

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestSecondSignalTheMomentShutdownStarts: a second SIGTERM sent the
// moment the shutdown's context ends kills the process at once, as the
// README promises: by then SIGTERM's default action must be back. The
// test runs itself as a child process that signals itself, 20 times.
func TestSecondSignalTheMomentShutdownStarts(t *testing.T) {
	if os.Getenv("RP_TEST_SIGNAL_CHILD") == "1" {
		ctx, cancel := ShutdownOnSignal(context.Background())
		defer cancel()
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
		<-ctx.Done() // the graceful shutdown would start here
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
		time.Sleep(3 * time.Second)
		os.Exit(0) // still alive: the second signal was missed
	}
	for i := range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSecondSignalTheMomentShutdownStarts$")
		cmd.Env = append(os.Environ(), "RP_TEST_SIGNAL_CHILD=1")
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("run %d: the process ended with %v, want killed by the second SIGTERM", i, err)
		}
		if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Fatalf("run %d: the process ended with %v, want killed by the second SIGTERM", i, exit)
		}
	}
}
