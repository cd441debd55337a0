package keycloak

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// demoRealmName is the realm of the realm file compose's keycloak service
// imports (deploy/keycloak/demo-realm.json).
const demoRealmName = "demo"

// demoUser is a user of the demo realm as its realm file defines it, with
// the id Keycloak gave it. The demo users are shared by every test of the
// package: never give Keycloak a wrong password for them (the realm has
// brute-force protection), never end all their sessions or disable them.
type demoUser struct {
	user
	Name   string   // firstName lastName, as Keycloak's name claim has it
	Groups []string // group names, without the leading /
}

// realmFileUser is a user's entry in a realm file.
type realmFileUser struct {
	Username    string   `json:"username"`
	Email       string   `json:"email"`
	FirstName   string   `json:"firstName"`
	LastName    string   `json:"lastName"`
	Groups      []string `json:"groups"`
	Credentials []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"credentials"`
}

// demoUser returns the demo realm's user username, read from the realm file
// compose's keycloak service imports (so a changed file changes the test's
// expectations with it), and looked up at Keycloak for its id.
func (k *keycloak) demoUser(t testing.TB, username string) demoUser {
	t.Helper()
	var realm struct {
		Realm string          `json:"realm"`
		Users []realmFileUser `json:"users"`
	}
	raw, err := os.ReadFile(demoRealmFile(t, k.Compose))
	if err != nil {
		t.Fatalf("demo realm file: %v", err)
	}
	if err := json.Unmarshal(raw, &realm); err != nil {
		t.Fatalf("demo realm file: %v", err)
	}
	if realm.Realm != demoRealmName {
		t.Fatalf("the realm file compose imports is realm %q, want %q", realm.Realm, demoRealmName)
	}
	i := slices.IndexFunc(realm.Users, func(u realmFileUser) bool { return u.Username == username })
	if i < 0 {
		t.Fatalf("realm %s's file has no user %s", demoRealmName, username)
	}
	fu := realm.Users[i]
	u := demoUser{user: user{Realm: demoRealmName, Username: fu.Username, Email: fu.Email},
		Name: strings.TrimSpace(fu.FirstName + " " + fu.LastName)}
	for _, c := range fu.Credentials {
		if c.Type == "password" {
			u.Password = c.Value
		}
	}
	for _, g := range fu.Groups {
		u.Groups = append(u.Groups, strings.TrimPrefix(g, "/"))
	}
	var found []struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	}
	k.Admin(t, http.MethodGet, "/"+demoRealmName+"/users?exact=true&username="+url.QueryEscape(username), nil, &found)
	if len(found) != 1 || found[0].Username != username {
		t.Fatalf("Keycloak's realm %s: user %s not found (%d answers)", demoRealmName, username, len(found))
	}
	u.ID = found[0].ID
	return u
}

// demoRealmFile is the realm file compose's keycloak service mounts into
// its import directory for realm demo.
func demoRealmFile(t testing.TB, p *types.Project) string {
	t.Helper()
	svc, ok := p.Services[keycloakService]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %s", keycloakService)
	}
	for _, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind || !strings.HasPrefix(v.Target, kcImportDir) ||
			!strings.HasPrefix(filepath.Base(v.Target), demoRealmName+"-") {
			continue
		}
		if filepath.IsAbs(v.Source) {
			return v.Source
		}
		return filepath.Join(p.WorkingDir, v.Source)
	}
	t.Fatalf("service %s mounts no %s realm file into %s", keycloakService, demoRealmName, kcImportDir)
	return ""
}

// clientSessions are u's sessions at Keycloak that client c takes part in:
// online (regular) and offline. Other tests' sessions of a shared user
// (another client's) are left out.
func (k *keycloak) clientSessions(t testing.TB, u user, c client) (online, offline []userSession) {
	t.Helper()
	for _, s := range k.sessions(t, u) {
		if _, ok := s.Clients[c.ID]; ok {
			online = append(online, s)
		}
	}
	return online, k.offlineSessions(t, u, c)
}
