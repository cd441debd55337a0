package main

import (
	"io"
	"strings"
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

func TestHelpExitsWithStatus0(t *testing.T) {
	var stderr strings.Builder
	if code := run([]string{"-h"}, func(string) string { return "" }, io.Discard, &stderr); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	if !strings.Contains(stderr.String(), "RP_CLIENT_SECRET_FILE") {
		t.Errorf("usage does not list the settings:\n%s", stderr.String())
	}
}
