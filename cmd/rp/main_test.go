package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestBadConfigurationExitsWithStatus2(t *testing.T) {
	var stderr strings.Builder
	env := map[string]string{"RP_BASE_URL": "not a url", "RP_SESSION_STORE": "bogus"}
	code := run(nil, func(k string) string { return env[k] }, io.Discard, &stderr)
	if code != 2 {
		t.Fatalf("exit status %d, want 2", code)
	}
	for _, name := range []string{"RP_ISSUER", "RP_CLIENT_ID", "RP_CLIENT_SECRET", "RP_BASE_URL", "RP_SESSION_STORE"} {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("stderr does not name %s:\n%s", name, stderr.String())
		}
	}
}

// TestPassClientHeadersChecked: a name rp does not remove, or rp's own
// identity header, is a bad setting like any other, reported with them.
func TestPassClientHeadersChecked(t *testing.T) {
	var stderr strings.Builder
	env := map[string]string{"RP_BASE_URL": "not a url", "RP_UPSTREAM": "http://app:3000",
		"RP_PASS_CLIENT_HEADERS": "Remote-User, X-Forwarded-User, X-Custom"}
	code := run(nil, func(k string) string { return env[k] }, io.Discard, &stderr)
	if code != 2 {
		t.Fatalf("exit status %d, want 2", code)
	}
	for _, want := range []string{"RP_BASE_URL", "RP_PASS_CLIENT_HEADERS: X-Forwarded-User is rp's own", "X-Custom is not a header rp removes"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "Remote-User") {
		t.Errorf("Remote-User is on the list, yet refused:\n%s", stderr.String())
	}
}

func TestHelpExitsWithStatus0(t *testing.T) {
	var stderr strings.Builder
	if code := run([]string{"-h"}, func(string) string { return "" }, io.Discard, &stderr); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	if !strings.Contains(stderr.String(), "RP_CLIENT_SECRET_FILE") {
		t.Errorf("usage does not list the settings:\n%s", stderr.String())
	}
}

func TestHealthcheck(t *testing.T) {
	var ready atomic.Int32
	ready.Store(http.StatusServiceUnavailable)
	readyz := "/readyz"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != readyz {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(ready.Load()))
	}))
	defer srv.Close()
	env := map[string]string{
		"RP_ISSUER": "https://op.example", "RP_CLIENT_ID": "rp", "RP_CLIENT_SECRET": "s",
		"RP_BASE_URL": "https://rp.example", "RP_ADDR": strings.TrimPrefix(srv.URL, "http://"),
	}
	getenv := func(k string) string { return env[k] }
	if code := run([]string{"healthcheck"}, getenv, io.Discard, io.Discard); code != 1 {
		t.Fatalf("not ready: exit %d, want 1", code)
	}
	ready.Store(http.StatusOK)
	if code := run([]string{"healthcheck"}, getenv, io.Discard, io.Discard); code != 0 {
		t.Fatalf("ready: exit %d, want 0", code)
	}
	// Under a prefix, /readyz may be the app's: the check asks rp's own.
	readyz, env["RP_PATH_PREFIX"] = "/_rp/readyz", "/_rp"
	if code := run([]string{"healthcheck"}, getenv, io.Discard, io.Discard); code != 0 {
		t.Fatalf("ready under a prefix: exit %d, want 0", code)
	}
	srv.Close()
	if code := run([]string{"healthcheck"}, getenv, io.Discard, io.Discard); code != 1 {
		t.Fatalf("nothing listening: exit %d, want 1", code)
	}
}
