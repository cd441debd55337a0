package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

func benchKey(i int) string { return fmt.Sprintf("k%042d", i) } // as long as a real store key
func benchSID(i int) string { return "sid-" + strconv.Itoa(i) }
func benchSub(i int) string { return "user-" + strconv.Itoa(i/2) } // two sessions per user

// realisticSession encodes a session as rp stores it after a Keycloak
// sign-in: tokens of Keycloak's sizes, a dozen claims, CSRF and last-seen.
func realisticSession(b *testing.B) []byte {
	b.Helper()
	random := func(n int) string {
		buf := make([]byte, n*3/4)
		_, _ = rand.Read(buf)
		return base64.RawURLEncoding.EncodeToString(buf)
	}
	claims, _ := json.Marshal(map[string]any{
		"sub": "f3a8c9e0-1b2c-4d5e-8f90-a1b2c3d4e5f6", "name": "Alice Admin", "preferred_username": "alice",
		"given_name": "Alice", "family_name": "Admin", "email": "alice@example.com", "email_verified": true,
		"groups": []string{"admins"}, "sid": "a7c1e2f0-0000-4000-8000-000000000001", "acr": "1",
		"iss": "https://sso.example.com/realms/main", "aud": "rp", "azp": "rp", "auth_time": 1764230400,
	})
	login, _ := json.Marshal(Login{Issuer: "https://sso.example.com/realms/main", Subject: "f3a8c9e0-1b2c-4d5e-8f90-a1b2c3d4e5f6",
		SID: "a7c1e2f0-0000-4000-8000-000000000001", Claims: claims, SignedInAt: time.Now(), Browser: "Firefox on Linux"})
	tokens, _ := json.Marshal(Tokens{IDToken: random(1300), AccessToken: random(1500), RefreshToken: random(800), Expiry: time.Now()})
	blob, err := codec{}.Encode(time.Now().Add(24*time.Hour), map[string]any{
		keyLogin: login, keyTokens: tokens, keyCSRF: rand.Text(), keySeen: time.Now().Unix(),
	})
	if err != nil {
		b.Fatal(err)
	}
	return blob
}

// fill stores n sessions with their index entries, in bulk.
func fill(b *testing.B, m *Manager, iss string, n int, blob []byte) {
	b.Helper()
	ctx := context.Background()
	exp := time.Now().Add(24 * time.Hour)
	switch x := m.backend.index.(type) {
	case sqlIndex:
		type stmt struct {
			q    string
			args []any
		}
		var stmts []stmt
		if x.sessions == "sessions" { // SQLite
			series := `WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < $1 - 1) `
			stmts = []stmt{
				{series + `INSERT INTO sessions (token, data, expiry) SELECT 'k' || printf('%042d', i), $2, julianday('now', '+1 day') FROM c`, []any{n, blob}},
				{series + `INSERT INTO rp_session_index (key, iss, sub, sid, expiry) SELECT 'k' || printf('%042d', i), $2, 'user-' || (i / 2), 'sid-' || i, $3 FROM c`, []any{n, iss, exp.Unix()}},
			}
		} else {
			stmts = []stmt{
				{`INSERT INTO rp_sessions (token, data, expiry) SELECT 'k' || lpad(i::text, 42, '0'), $2, now() + interval '1 day' FROM generate_series(0, $1 - 1) i`, []any{n, blob}},
				{`INSERT INTO rp_session_index (key, iss, sub, sid, expiry) SELECT 'k' || lpad(i::text, 42, '0'), $2, 'user-' || (i / 2), 'sid-' || i, $3 FROM generate_series(0, $1 - 1) i`, []any{n, iss, exp.Unix()}},
				{`VACUUM ANALYZE rp_sessions`, nil}, {`VACUUM ANALYZE rp_session_index`, nil},
			}
		}
		for _, s := range stmts {
			if _, err := x.db.ExecContext(ctx, s.q, s.args...); err != nil {
				b.Fatalf("filling: %s: %v", s.q, err)
			}
		}
	case redisIndex:
		const batch = 5000
		for start := 0; start < n; start += batch {
			_, err := x.c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := start; i < min(start+batch, n); i++ {
					addRedis(ctx, p, x, iss, i, blob, exp)
				}
				return nil
			})
			if err != nil {
				b.Fatalf("filling: %v", err)
			}
		}
	default:
		b.Fatalf("no bulk fill for %T", x)
	}
}

func addRedis(ctx context.Context, p redis.Pipeliner, x redisIndex, iss string, i int, blob []byte, exp time.Time) {
	e := redisEntry{Issuer: iss, Subject: benchSub(i), SID: benchSID(i)}
	val, _ := json.Marshal(e)
	k := benchKey(i)
	p.Do(ctx, "SET", x.sessionKey(k), blob, "PXAT", ms(exp))
	p.Do(ctx, "SET", x.entryKey(k), val, "PXAT", ms(exp))
	for _, set := range x.sets(e) {
		p.ZAdd(ctx, set, redis.Z{Score: float64(exp.UnixMilli()), Member: k})
		p.Do(ctx, "PEXPIREAT", set, ms(exp), "NX")
	}
}

// putBack stores session i again, as a sign-in would.
func putBack(b *testing.B, m *Manager, iss string, i int, blob []byte) {
	ctx := context.Background()
	exp := time.Now().Add(24 * time.Hour)
	if err := m.backend.store.CommitCtx(ctx, benchKey(i), blob, exp); err != nil {
		b.Fatal(err)
	}
	if err := m.backend.index.Add(ctx, benchKey(i), IndexEntry{Issuer: iss, Subject: benchSub(i), SID: benchSID(i), Expiry: exp}); err != nil {
		b.Fatal(err)
	}
}

var redisMemory sync.Mutex // one Redis benchmark measures at a time

// storeBytes is the store's size: the database's pages or relations, or
// Redis's used memory.
func storeBytes(b *testing.B, m *Manager) int64 {
	b.Helper()
	ctx := context.Background()
	var n int64
	switch x := m.backend.index.(type) {
	case sqlIndex:
		q := `SELECT pg_total_relation_size('rp_sessions') + pg_total_relation_size('rp_session_index')`
		if x.sessions == "sessions" {
			if _, err := x.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				b.Fatal(err)
			}
			q = `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`
		}
		if err := x.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			b.Fatal(err)
		}
	case redisIndex:
		redisMemory.Lock()
		defer redisMemory.Unlock()
		info, err := x.c.InfoMap(ctx, "memory").Result()
		if err != nil {
			b.Fatal(err)
		}
		n, _ = strconv.ParseInt(info["Memory"]["used_memory"], 10, 64)
	}
	return n
}
