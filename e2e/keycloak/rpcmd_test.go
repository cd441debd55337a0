package keycloak

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cmdTimeout bounds one run of the rp command: a bound on a hang, not a
// speed check.
const cmdTimeout = 2 * time.Minute

// buildRP builds cmd/rp into the test's directory: the binary an admin
// runs (the image's /rp).
func buildRP(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to build cmd/rp: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "rp")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/rp")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/rp: %v\n%s", err, out)
	}
	return bin
}

// rpRun is one finished run of the rp command.
type rpRun struct {
	Code           int // exit status
	Stdout, Stderr string
}

// runRP runs bin with args and with env as its whole environment (plus
// PATH and HOME), as a container with those settings would.
func runRP(t *testing.T, bin string, env map[string]string, args ...string) rpRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r := rpRun{}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && ctx.Err() == nil:
		r.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("rp %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	r.Stdout, r.Stderr = stdout.String(), stderr.String()
	return r
}

// secretFile writes secret into a file of the test's own, for the
// RP_*_FILE settings.
func secretFile(t *testing.T, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
