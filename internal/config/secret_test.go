package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestForwardAuthSecret: a random secret of at least 32 characters passes,
// from the variable or its _FILE; what people type instead is refused at
// start, naming the setting, never quoting the secret.
func TestForwardAuthSecret(t *testing.T) {
	for _, s := range []string{
		"3q2+7wqJjJ8Zr0b5xW4yQm1Hk9s/Lp6TnVd0eFg2aBc=", // openssl rand -base64 32
		"9f86d081884c7d659a2feaa0c55ad015",             // openssl rand -hex 16
		"Xq7_kP2-vN9.wR4~tY6zA1bC3dE5fG8h",
	} {
		e := valid()
		e["RP_FORWARD_AUTH_SECRET"] = s
		c, err := Load(nil, env(e), io.Discard)
		if err != nil {
			t.Errorf("%s: %v", s, err)
		} else if c.ForwardAuthSecret != s {
			t.Errorf("ForwardAuthSecret = %q, want %q", c.ForwardAuthSecret, s)
		}
	}
	for name, s := range map[string]string{
		"short":          "Zr0b5xW4yQm1Hk9sLp6TnVd0eFg2aB",
		"repeated piece": "changeme-changeme-changeme-changeme",
		"one character":  strings.Repeat("a", 40),
		"few characters": "passwordpasswordpasswordpassword1",
		"a space":        "Zr0b5xW4yQm1Hk9s Lp6TnVd0eFg2aBcQw",
		"a quote":        `Zr0b5xW4yQm1Hk9s"Lp6TnVd0eFg2aBcQw`,
		"a dollar":       "Zr0b5xW4yQm1Hk9s$Lp6TnVd0eFg2aBcQw",
		"a brace":        "Zr0b5xW4yQm1Hk9s{Lp6TnVd0eFg2aBcQw",
		"not ASCII":      "Zr0b5xW4yQm1Hk9séLp6TnVd0eFg2aBcQw",
	} {
		e := valid()
		e["RP_FORWARD_AUTH_SECRET"] = s
		_, err := Load(nil, env(e), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "RP_FORWARD_AUTH_SECRET:") || !strings.Contains(err.Error(), "openssl rand") {
			t.Errorf("%s: %v, want an error naming RP_FORWARD_AUTH_SECRET and how to make one", name, err)
		} else if strings.Contains(err.Error(), s) || (len(s) > 8 && strings.Contains(err.Error(), s[:8])) {
			t.Errorf("%s: the error quotes the secret: %v", name, err)
		}
	}

	path := filepath.Join(t.TempDir(), "fwd-secret")
	secret := "3q2+7wqJjJ8Zr0b5xW4yQm1Hk9s/Lp6TnVd0eFg2aBc="
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := valid()
	e["RP_FORWARD_AUTH_SECRET_FILE"] = path
	c, err := Load(nil, env(e), io.Discard)
	if err != nil || c.ForwardAuthSecret != secret {
		t.Errorf("RP_FORWARD_AUTH_SECRET_FILE: %q, %v", c.ForwardAuthSecret, err)
	}
	e["RP_FORWARD_AUTH_SECRET"] = secret
	if _, err := Load(nil, env(e), io.Discard); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("both set: %v", err)
	}

	// Unset is allowed: /auth then never sends the access token.
	if c, err := Load(nil, env(valid()), io.Discard); err != nil || c.ForwardAuthSecret != "" {
		t.Errorf("unset: %q, %v", c.ForwardAuthSecret, err)
	}
}

func TestFrontchannelLogoutSetting(t *testing.T) {
	c, err := Load(nil, env(valid()), io.Discard)
	if err != nil || !c.FrontchannelLogout {
		t.Fatalf("default: FrontchannelLogout %v, %v; want on (Keycloak registers front-channel logout for new clients)", c.FrontchannelLogout, err)
	}
	e := valid()
	e["RP_FRONTCHANNEL_LOGOUT"] = "false"
	if c, err := Load(nil, env(e), io.Discard); err != nil || c.FrontchannelLogout {
		t.Fatalf("false: FrontchannelLogout %v, %v", c.FrontchannelLogout, err)
	}
	e["RP_FRONTCHANNEL_LOGOUT"] = "sometimes"
	if _, err := Load(nil, env(e), io.Discard); err == nil || !strings.Contains(err.Error(), "RP_FRONTCHANNEL_LOGOUT:") {
		t.Fatalf("sometimes: %v", err)
	}
}
