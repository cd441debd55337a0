package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func valid() map[string]string {
	return map[string]string{
		"RP_ISSUER":        "https://sso.example.com/realms/main",
		"RP_CLIENT_ID":     "rp",
		"RP_CLIENT_SECRET": "secret",
		"RP_BASE_URL":      "https://app.example.com/",
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(nil, env(valid()), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL != "https://app.example.com" || c.RedirectURL() != "https://app.example.com/callback" ||
		c.PostLogoutRedirectURL() != "https://app.example.com/logged-out" || !c.SecureCookies() {
		t.Errorf("URLs: %+v", c)
	}
	if c.DiscoveryURL != c.Issuer || c.Addr != ":8080" || c.SessionStore != "sqlite:rp-sessions.db" ||
		strings.Join(c.Scopes, " ") != "openid profile email" || c.SigningAlg != "RS256" ||
		c.TokenAuthMethod != "client_secret_basic" || c.ProviderTimeout != 10*time.Second ||
		c.SessionIdleTimeout != time.Hour || c.SessionLifetime != 12*time.Hour || c.ShutdownTimeout != 30*time.Second {
		t.Errorf("defaults: %+v", c)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	c, err := Load([]string{"-client-id", "from-flag", "-session-store", "memory"}, env(valid()), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientID != "from-flag" || c.SessionStore != "memory" {
		t.Errorf("flags not applied: %+v", c)
	}
}

func TestSecretFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := valid()
	delete(e, "RP_CLIENT_SECRET")
	e["RP_CLIENT_SECRET_FILE"] = path
	c, err := Load(nil, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientSecret != "from-file" {
		t.Errorf("secret = %q", c.ClientSecret)
	}

	e["RP_CLIENT_SECRET"] = "also"
	if _, err := Load(nil, env(e), io.Discard); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("both set: %v", err)
	}
	delete(e, "RP_CLIENT_SECRET")
	e["RP_CLIENT_SECRET_FILE"] = filepath.Join(t.TempDir(), "missing")
	if _, err := Load(nil, env(e), io.Discard); err == nil || !strings.Contains(err.Error(), "RP_CLIENT_SECRET_FILE") {
		t.Errorf("missing file: %v", err)
	}
}

// TestValidateReportsEveryProblem: one run names each bad setting.
func TestValidateReportsEveryProblem(t *testing.T) {
	e := map[string]string{
		"RP_BASE_URL":             "ftp://app.example.com/sub",
		"RP_SCOPES":               "profile",
		"RP_SESSION_STORE":        "mongodb://x",
		"RP_ID_TOKEN_SIGNING_ALG": "HS256",
		"RP_TOKEN_AUTH_METHOD":    "private_key_jwt",
		"RP_PROVIDER_TIMEOUT":     "forever",
		"RP_SESSION_IDLE_TIMEOUT": "48h",
		"RP_LOG_FORMAT":           "xml",
	}
	_, err := Load(nil, env(e), io.Discard)
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"RP_ISSUER", "RP_CLIENT_ID", "RP_CLIENT_SECRET", "RP_BASE_URL", "RP_SCOPES",
		"RP_SESSION_STORE", "RP_ID_TOKEN_SIGNING_ALG", "RP_TOKEN_AUTH_METHOD", "RP_PROVIDER_TIMEOUT",
		"RP_SESSION_IDLE_TIMEOUT", "RP_LOG_FORMAT"} {
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestStoreURLPasswordsStayOutOfErrors(t *testing.T) {
	e := valid()
	e["RP_SESSION_STORE"] = "mysql://rp:hunter2@db/rp"
	_, err := Load(nil, env(e), io.Discard)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error = %v", err)
	}
}

func TestBadURLs(t *testing.T) {
	cases := map[string][2]string{
		"issuer without scheme":  {"RP_ISSUER", "sso.example.com"},
		"issuer with query":      {"RP_ISSUER", "https://sso.example.com/?x=1"},
		"base URL with path":     {"RP_BASE_URL", "https://app.example.com/rp"},
		"base URL with userinfo": {"RP_BASE_URL", "https://u:p@app.example.com"},
		"discovery not a URL":    {"RP_DISCOVERY_URL", "keycloak:8080"},
	}
	for name, kv := range cases {
		t.Run(name, func(t *testing.T) {
			e := valid()
			e[kv[0]] = kv[1]
			_, err := Load(nil, env(e), io.Discard)
			if err == nil || !strings.Contains(err.Error(), kv[0]+":") {
				t.Fatalf("error = %v", err)
			}
		})
	}
}

func TestUsageNeverPrintsSecrets(t *testing.T) {
	e := valid()
	e["RP_CLIENT_SECRET"] = "hunter2-secret"
	var out strings.Builder
	if _, err := Load([]string{"-h"}, env(e), &out); err == nil {
		t.Fatal("-h gave no ErrHelp")
	}
	if _, err := Load([]string{"-no-such-flag"}, env(e), &out); err == nil {
		t.Fatal("an unknown flag was accepted")
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Fatalf("usage prints the secret:\n%s", out.String())
	}
}

func TestBaseURLIsNormalised(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://App.Example.COM:443/": "https://app.example.com",
		"http://localhost:80":          "http://localhost",
		"http://localhost:8080":        "http://localhost:8080",
	} {
		e := valid()
		e["RP_BASE_URL"] = in
		c, err := Load(nil, env(e), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.BaseURL != want {
			t.Errorf("%s: BaseURL %q, want %q", in, c.BaseURL, want)
		}
		if strings.HasPrefix(want, "https") != c.SecureCookies() {
			t.Errorf("%s: SecureCookies %v", in, c.SecureCookies())
		}
	}
}

func TestURLCredentialsStayOutOfErrors(t *testing.T) {
	e := valid()
	e["RP_DISCOVERY_URL"] = "https://user:hunter2@sso.example.com/realms/x"
	_, err := Load(nil, env(e), io.Discard)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error = %v", err)
	}
}

func TestUnparsableDurationIsReportedOnce(t *testing.T) {
	e := valid()
	e["RP_PROVIDER_TIMEOUT"] = "abc"
	_, err := Load(nil, env(e), io.Discard)
	if err == nil || strings.Count(err.Error(), "RP_PROVIDER_TIMEOUT") != 1 {
		t.Fatalf("error = %v", err)
	}
}

func TestSharedSessionStores(t *testing.T) {
	for _, spec := range []string{
		"redis://127.0.0.1:6379/0", "rediss://user@cache.internal:6380/2?key_prefix=app1:",
		"postgres://rp@db.internal/rp?sslmode=verify-full", "postgresql://rp@db.internal:5433/rp",
		"postgres:///rp?host=/var/run/postgresql",
	} {
		e := valid()
		e["RP_SESSION_STORE"] = spec
		if _, err := Load(nil, env(e), io.Discard); err != nil {
			t.Errorf("%s: %v", spec, err)
		}
	}
	for spec, want := range map[string]string{
		"redis:///0":                       "has no host",
		"mysql://db/rp":                    "is not one of",
		"postgres://u:hunter2@/x":          "has no host",
		"redis://u:hunter2@h:1/0#f":        "fragment",
		"postgres://db.internal/x#f":       "fragment",
		"postgres:///x?password=hunter2#f": "fragment",
	} {
		e := valid()
		e["RP_SESSION_STORE"] = spec
		_, err := Load(nil, env(e), io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "RP_SESSION_STORE") {
			t.Errorf("%s: %v, want an error naming RP_SESSION_STORE with %q", spec, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", spec, err)
		}
	}
}

func TestSessionStorePassword(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store-password")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := valid()
	e["RP_SESSION_STORE"] = "redis://cache.internal:6379/0"
	e["RP_SESSION_STORE_PASSWORD_FILE"] = path
	c, err := Load(nil, env(e), io.Discard)
	if err != nil || c.SessionStorePassword != "s3cret" {
		t.Fatalf("password from file: %q %v", c.SessionStorePassword, err)
	}

	e["RP_SESSION_STORE"] = "redis://:inline@cache.internal:6379/0"
	if _, err := Load(nil, env(e), io.Discard); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("password in the URL and in a file: %v", err)
	}
	e["RP_SESSION_STORE"] = "postgres://rp@db.internal/rp?password=inline"
	if _, err := Load(nil, env(e), io.Discard); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("a password parameter and a file: %v", err)
	}
	e["RP_SESSION_STORE"] = "sqlite:/tmp/x.db"
	if _, err := Load(nil, env(e), io.Discard); err == nil || !strings.Contains(err.Error(), "RP_SESSION_STORE_PASSWORD") {
		t.Errorf("a password for sqlite: %v", err)
	}
}

func TestSessionStoreTimeout(t *testing.T) {
	for v, ok := range map[string]bool{"2s": true, "250ms": true, "0": false, "11s": false, "-1s": false} {
		e := valid()
		e["RP_SESSION_STORE_TIMEOUT"] = v
		_, err := Load(nil, env(e), io.Discard)
		if (err == nil) != ok {
			t.Errorf("RP_SESSION_STORE_TIMEOUT=%s: %v", v, err)
		}
	}
}

func TestShutdownTimeout(t *testing.T) {
	for v, ok := range map[string]bool{"30s": true, "2m": true, "500ms": true, "0": false, "-1s": false, "soon": false} {
		e := valid()
		e["RP_SHUTDOWN_TIMEOUT"] = v
		_, err := Load(nil, env(e), io.Discard)
		if (err == nil) != ok {
			t.Errorf("RP_SHUTDOWN_TIMEOUT=%s: %v", v, err)
		}
		if err != nil && strings.Count(err.Error(), "RP_SHUTDOWN_TIMEOUT") != 1 {
			t.Errorf("RP_SHUTDOWN_TIMEOUT=%s: the error does not name it once: %v", v, err)
		}
	}
}

func TestCookieSecrets(t *testing.T) {
	long, other := "hX3kQ9vLmP2wRt7YbN4cZ8sJfG6dA1eU", "Wq5Tz0Rk+yH3nVb8Lm/P2xC7aS9dF4gJ1uE6iO0o"
	t.Run("derived from the client secret by default", func(t *testing.T) {
		e := valid()
		e["RP_CLIENT_SECRET"] = "Kc8vQ2mZr5TnW9yHb3LpX7dF1gJ6sA4e" // as providers generate them
		c, err := Load(nil, env(e), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got, weak := c.SealingSecrets(); len(got) != 1 || got[0] != e["RP_CLIENT_SECRET"] || weak {
			t.Fatalf("SealingSecrets = %q, %v", got, weak)
		}
		for _, typed := range []string{"short", "secretsecretsecretsecretsecret12"} {
			e["RP_CLIENT_SECRET"] = typed
			c, _ = Load(nil, env(e), io.Discard)
			if _, weak := c.SealingSecrets(); !weak {
				t.Fatalf("client secret %q is not reported weak", typed)
			}
		}
	})
	t.Run("several, rotated", func(t *testing.T) {
		e := valid()
		e["RP_COOKIE_SECRET"] = long + ", " + other
		c, err := Load(nil, env(e), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got, weak := c.SealingSecrets(); len(got) != 2 || got[0] != long || got[1] != other || weak {
			t.Fatalf("SealingSecrets = %q, %v", got, weak)
		}
	})
	t.Run("from a file, one per line", func(t *testing.T) {
		e := valid()
		path := filepath.Join(t.TempDir(), "cookie-secret")
		if err := os.WriteFile(path, []byte(long+"\n"+other+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		e["RP_COOKIE_SECRET_FILE"] = path
		c, err := Load(nil, env(e), io.Discard)
		if err != nil || len(c.CookieSecrets) != 2 {
			t.Fatalf("%q %v", c.CookieSecrets, err)
		}
	})
	t.Run("not random", func(t *testing.T) {
		e := valid()
		e["RP_COOKIE_SECRET"] = strings.Repeat("changeme", 5)
		_, err := Load(nil, env(e), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "RP_COOKIE_SECRET: secret 1 of 1 does not look random") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("too short", func(t *testing.T) {
		e := valid()
		e["RP_COOKIE_SECRET"] = long + " hunter2"
		_, err := Load(nil, env(e), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "RP_COOKIE_SECRET: secret 2 of 2 is 7 characters") {
			t.Fatalf("error = %v", err)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatal("the error quotes the secret")
		}
	})
}
