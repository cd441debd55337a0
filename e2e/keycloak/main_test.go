// Package keycloak runs rp against a real Keycloak: Keycloak's own server
// distribution (org.keycloak:keycloak-quarkus-dist, the version in
// deploy/keycloak/VERSION, fetched by scripts/keycloak), started once for
// the whole package on loopback in dev mode, as docker-compose.yml's
// keycloak service runs it: its KC_* settings, its command, and the realm
// file it imports, plus the test-only realms in testdata.
//
// Compose names hosts (keycloak:8080, rp:8080) and publishes ports
// (localhost:8000); here every such address is mapped to a free loopback
// port, the same way in the compose settings, the realm file and the nginx
// configurations (netmap.go), so that a mismatch between them still shows.
//
// Without Java or the distribution the tests are skipped, except under
// CI=true, where they fail.
//
// Run: scripts/keycloak fetch && go test ./e2e/keycloak/
package keycloak

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// peer is the Keycloak every test of the package shares; peerErr says why
// there is none.
var (
	peer    *keycloak
	peerErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		peerErr = fmt.Errorf("-short: Keycloak is not started")
		os.Exit(m.Run())
	}
	peer, peerErr = startKeycloak()
	code := m.Run()
	if peer != nil {
		peer.stop()
	}
	os.Exit(code)
}

// needKeycloak returns the shared Keycloak, or skips the test (fails it
// under CI=true) when there is none.
func needKeycloak(t *testing.T) *keycloak {
	t.Helper()
	if testing.Short() {
		t.Skip("Keycloak tests skipped in -short mode")
	}
	if peer == nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Keycloak is not available: %v", peerErr)
		}
		t.Skipf("Keycloak is not available: %v", peerErr)
	}
	return peer
}
