package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const (
	oauth2ProxyModule  = "github.com/oauth2-proxy/oauth2-proxy/v7"
	oauth2ProxyVersion = "v7.15.6"
)

// OAuth2ProxyBin returns the oauth2-proxy binary: -oauth2-proxy, or the one
// built by an earlier run, or one built now with go install into the user
// cache directory.
func (h *Harness) OAuth2ProxyBin() (string, error) {
	bin := h.Opts.OAuth2Proxy
	if bin == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory for oauth2-proxy (give -oauth2-proxy): %w", err)
		}
		dir := filepath.Join(cache, "rpbench-bin", "oauth2-proxy-"+oauth2ProxyVersion)
		bin = filepath.Join(dir, "oauth2-proxy")
		if _, err := os.Stat(bin); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", err
			}
			h.Progress("building oauth2-proxy %s into %s (go install, once; a few minutes)", oauth2ProxyVersion, dir)
			cmd := exec.CommandContext(h.Ctx, "go", "install", oauth2ProxyModule+"@"+oauth2ProxyVersion)
			cmd.Dir = dir // outside any module
			cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=")
			if out, err := cmd.CombinedOutput(); err != nil {
				return "", fmt.Errorf("go install %s@%s: %v\n%s", oauth2ProxyModule, oauth2ProxyVersion, err, out)
			}
		}
	}
	// The version is not in --version for a go install build; the module
	// version is in the binary's build information.
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		return "", fmt.Errorf("reading %s's build information: %w", bin, err)
	}
	var version string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "mod" && f[1] == oauth2ProxyModule {
			version = f[2]
		}
	}
	if version == "" {
		return "", fmt.Errorf("%s is not a build of %s", bin, oauth2ProxyModule)
	}
	if version != oauth2ProxyVersion {
		h.Progress("warning: %s is oauth2-proxy %s, not %s", bin, version, oauth2ProxyVersion)
	}
	h.Machine.AddVersion(fmt.Sprintf("**oauth2-proxy**: %s (module version from the binary's build information).", version))
	return bin, nil
}

// cookieSecret is 32 random bytes, base64url-encoded as oauth2-proxy's
// documentation generates it: oauth2-proxy decodes it to an AES-256 key.
func cookieSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.URLEncoding.EncodeToString(b)
}
