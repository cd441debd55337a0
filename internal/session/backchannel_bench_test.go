package session

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rp-project/rp/internal/oidc"
	"github.com/rp-project/rp/internal/session/sessiontest"
	"github.com/rp-project/rp/internal/testprovider"
)

// BenchmarkBackchannelLogout measures what a back-channel logout costs rp
// with 10^3 and 10^6 sessions stored, on each store: verifying the logout
// token (signature and claims), claiming its jti in the store, finding the
// session by (iss, sid) and ending it. Each iteration ends one stored
// session, put back untimed, so the store keeps its size. It also reports
// the store's bytes per stored session (a realistic one: Keycloak-sized
// tokens, claims, CSRF token).
//
//	go test ./internal/session -run '^$' -bench BackchannelLogout -benchtime 2000x -timeout 60m
//
// RP_BENCH_SIZES=1000 limits the sizes (comma-separated).
func BenchmarkBackchannelLogout(b *testing.B) {
	sizes := []int{1_000, 1_000_000}
	if v := os.Getenv("RP_BENCH_SIZES"); v != "" {
		sizes = sizes[:0]
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	op := testprovider.New(b)
	client := oidc.New(oidc.Settings{Issuer: op.Issuer, DiscoveryURL: op.DiscoveryURL, ClientID: op.ClientID,
		ClientSecret: op.ClientSecret, RedirectURL: "http://rp.test/callback", Scopes: []string{"openid"}})
	if err := client.Discover(context.Background()); err != nil {
		b.Fatal(err)
	}
	blob := realisticSession(b)
	for _, st := range sessiontest.All(b) {
		if st.Name == "memory" {
			continue // the same SQLite as sqlite, without the file
		}
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/sessions=%d", st.Name, n), func(b *testing.B) {
				m, err := Open(context.Background(), Options{Store: st.New(b), Lifetime: 24 * time.Hour})
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				ctx := context.Background()
				before := storeBytes(b, m)
				fill(b, m, op.Issuer, n, blob)
				perSession := float64(storeBytes(b, m)-before) / float64(n)

				tokens := make([]string, b.N)
				for i := range tokens {
					tokens[i] = op.LogoutToken(op.LogoutClaims("", benchSID(i%n)), testprovider.TokenHeader{})
				}
				b.ResetTimer()
				for i := range b.N {
					lt, err := client.VerifyLogoutToken(ctx, tokens[i])
					if err != nil {
						b.Fatal(err)
					}
					if first, err := m.Claim(ctx, "jti", lt.Issuer+"\x00"+lt.ID, lt.RememberUntil); err != nil || !first {
						b.Fatal(first, err)
					}
					ended, err := m.EndSessions(ctx, lt.Issuer, lt.Subject, lt.SessionID)
					if err != nil || ended != 1 {
						b.Fatalf("ended %d: %v", ended, err)
					}
					b.StopTimer()
					putBack(b, m, op.Issuer, i%n, blob)
					b.StartTimer()
				}
				b.ReportMetric(perSession, "store-bytes/session") // after the loop: ResetTimer drops metrics
			})
		}
	}
}

func benchSID(i int) string { return FillSID(i) }

func realisticSession(b *testing.B) Filled {
	b.Helper()
	blob, err := RealisticSession()
	if err != nil {
		b.Fatal(err)
	}
	return blob
}

// fill stores n sessions with their index entries, in bulk.
func fill(b *testing.B, m *Manager, iss string, n int, blob Filled) {
	b.Helper()
	if err := m.Fill(context.Background(), iss, 0, n, blob); err != nil {
		b.Fatal(err)
	}
}

// putBack stores session i again, as a sign-in would.
func putBack(b *testing.B, m *Manager, iss string, i int, blob Filled) {
	if err := m.PutBack(context.Background(), iss, i, blob); err != nil {
		b.Fatal(err)
	}
}

var redisMemory sync.Mutex // one Redis benchmark measures at a time

// storeBytes is the store's size: the database's pages or relations, or
// Redis's used memory.
func storeBytes(b *testing.B, m *Manager) int64 {
	b.Helper()
	redisMemory.Lock()
	defer redisMemory.Unlock()
	n, err := m.StoreBytes(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return n
}
