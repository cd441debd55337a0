package devop_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProductionBinaryDoesNotLinkTheDevProvider keeps the development
// provider, and the OP library under it, out of cmd/rp.
func TestProductionBinaryDoesNotLinkTheDevProvider(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if _, serr := os.Stat(goTool); serr != nil {
			t.Fatalf("the go command is needed to list cmd/rp's dependencies: %v", err)
		}
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/rp-project/rp/cmd/rp").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/rp: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps ./cmd/rp listed nothing")
	}
	for _, pkg := range deps {
		if strings.Contains(pkg, "rp-project/rp/internal/devop") || strings.Contains(pkg, "zitadel") {
			t.Errorf("cmd/rp depends on %s: the development provider must stay out of the production binary", pkg)
		}
	}
}
