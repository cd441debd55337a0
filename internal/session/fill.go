package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bulk filling, for benchmarks (cmd/rpbench and BenchmarkBackchannelLogout):
// a store of a million sessions made in a minute rather than through a
// million sign-ins. The sessions are written straight into the store's
// tables or keys, with their index entries, exactly as rp writes them; they
// have no cookie (their keys are not the hash of any token), so they can be
// found and ended through the index only, as a back-channel logout does.

// FillKey is the store key of filled session i, as long as a real one.
func FillKey(i int) string { return fmt.Sprintf("k%042d", i) }

// FillSID is the provider's sid of filled session i.
func FillSID(i int) string { return "sid-" + strconv.Itoa(i) }

// FillSubject is the provider's sub of filled session i: two sessions per
// user.
func FillSubject(i int) string { return "user-" + strconv.Itoa(i/2) }

// Filled is what a filled session stores: its data, and its tokens
// record beside it (under "t:" and its key), as a sign-in writes them.
type Filled struct {
	Session []byte
	Tokens  []byte
}

// Size is the bytes of both records.
func (f Filled) Size() int { return len(f.Session) + len(f.Tokens) }

// RealisticSession encodes a session as rp stores it after a Keycloak
// sign-in with the default settings: a dozen claims, CSRF, last-seen and
// refresh hints in the session's data, and an ID and a refresh token of
// Keycloak's sizes in its tokens record. The access token is not kept
// (rp keeps it only with RP_PASS_ACCESS_TOKEN).
func RealisticSession() (Filled, error) {
	random := func(n int) string {
		buf := make([]byte, n*3/4)
		_, _ = rand.Read(buf)
		return base64.RawURLEncoding.EncodeToString(buf)
	}
	claims, err := json.Marshal(map[string]any{
		"sub": "f3a8c9e0-1b2c-4d5e-8f90-a1b2c3d4e5f6", "name": "Alice Admin", "preferred_username": "alice",
		"given_name": "Alice", "family_name": "Admin", "email": "alice@example.com", "email_verified": true,
		"groups": []string{"admins"}, "sid": "a7c1e2f0-0000-4000-8000-000000000001", "acr": "1",
		"iss": "https://sso.example.com/realms/main", "aud": "rp", "azp": "rp", "auth_time": 1764230400,
	})
	if err != nil {
		return Filled{}, err
	}
	login, err := json.Marshal(Login{Issuer: "https://sso.example.com/realms/main", Subject: "f3a8c9e0-1b2c-4d5e-8f90-a1b2c3d4e5f6",
		SID: "a7c1e2f0-0000-4000-8000-000000000001", Claims: claims, SignedInAt: time.Now(), Browser: "Firefox on Linux"})
	if err != nil {
		return Filled{}, err
	}
	tokens, err := json.Marshal(Tokens{IDToken: random(1300), RefreshToken: random(800), Expiry: time.Now().Add(5 * time.Minute)})
	if err != nil {
		return Filled{}, err
	}
	blob, err := codec{}.Encode(time.Now().Add(24*time.Hour), map[string]any{
		keyLogin: login, keyCSRF: rand.Text(), keySeen: time.Now().Unix(), keyRefreshAt: time.Now().Add(4 * time.Minute).Unix(),
	})
	if err != nil {
		return Filled{}, fmt.Errorf("encoding a session: %w", err)
	}
	return Filled{Session: blob, Tokens: tokens}, nil
}

// fillBatch is how many sessions one statement or pipeline writes: small
// enough that SQLite's write-ahead log is checkpointed along the way.
const fillBatch = 50_000

// Fill stores sessions from to to-1 (keys FillKey(i), issuer iss, subject
// FillSubject(i), sid FillSID(i)), each holding f and expiring in a day,
// with their index entries, in bulk.
func (m *Manager) Fill(ctx context.Context, iss string, from, to int, f Filled) error {
	exp := time.Now().Add(24 * time.Hour)
	switch x := m.backend.index.(type) {
	case cachedIndex:
		// The memory store, or a SQLite file this process holds: the
		// cache has nothing of sessions it never read.
		inner, ok := x.Index.(sqlIndex)
		if !ok {
			return fmt.Errorf("session: no bulk fill for %T", x.Index)
		}
		return fillSQL(ctx, inner, iss, from, to, f, exp)
	case sqlIndex:
		return fillSQL(ctx, x, iss, from, to, f, exp)
	case redisIndex:
		for start := from; start < to; start += fillBatch / 10 {
			_, err := x.c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := start; i < min(start+fillBatch/10, to); i++ {
					addRedis(ctx, p, x, iss, i, f, exp)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("%w: filling redis: %w", ErrStore, err)
			}
		}
		return nil
	}
	return fmt.Errorf("session: no bulk fill for %T", m.backend.index)
}

func fillSQL(ctx context.Context, x sqlIndex, iss string, from, to int, f Filled, exp time.Time) error {
	if err := x.ready(ctx); err != nil {
		return err
	}
	sqlite := x.sessions == "sessions"
	for start := from; start < to; start += fillBatch {
		end := min(start+fillBatch, to)
		var stmts []string
		if sqlite {
			series := `WITH RECURSIVE c(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM c WHERE i < $2 - 1) `
			stmts = []string{
				series + `INSERT INTO sessions (token, data, expiry) SELECT 'k' || printf('%042d', i), $3, julianday('now', '+1 day') FROM c`,
				series + `INSERT INTO sessions (token, data, expiry) SELECT 't:k' || printf('%042d', i), $3, julianday('now', '+1 day') FROM c`,
				series + `INSERT INTO rp_session_index (key, iss, sub, sid, expiry) SELECT 'k' || printf('%042d', i), $3, 'user-' || (i / 2), 'sid-' || i, $4 FROM c`,
			}
		} else {
			stmts = []string{
				`INSERT INTO rp_sessions (token, data, expiry) SELECT 'k' || lpad(i::text, 42, '0'), $3, now() + interval '1 day' FROM generate_series($1::int, $2::int - 1) i`,
				`INSERT INTO rp_sessions (token, data, expiry) SELECT 't:k' || lpad(i::text, 42, '0'), $3, now() + interval '1 day' FROM generate_series($1::int, $2::int - 1) i`,
				`INSERT INTO rp_session_index (key, iss, sub, sid, expiry) SELECT 'k' || lpad(i::text, 42, '0'), $3, 'user-' || (i / 2), 'sid-' || i, $4 FROM generate_series($1::int, $2::int - 1) i`,
			}
		}
		for i, q := range stmts {
			args := [][]any{{start, end, f.Session}, {start, end, f.Tokens}, {start, end, iss, exp.Unix()}}[i]
			if _, err := x.db.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("%w: filling: %s: %w", ErrStore, q, err)
			}
		}
	}
	if !sqlite {
		for _, q := range []string{`VACUUM ANALYZE rp_sessions`, `VACUUM ANALYZE rp_session_index`} {
			if _, err := x.db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrStore, q, err)
			}
		}
	}
	return nil
}

func addRedis(ctx context.Context, p redis.Pipeliner, x redisIndex, iss string, i int, f Filled, exp time.Time) {
	e := redisEntry{Issuer: iss, Subject: FillSubject(i), SID: FillSID(i)}
	val, _ := json.Marshal(e)
	k := FillKey(i)
	p.Do(ctx, "SET", x.sessionKey(k), f.Session, "PXAT", ms(exp))
	p.Do(ctx, "SET", x.sessionKey(tokenKey(k)), f.Tokens, "PXAT", ms(exp))
	p.Do(ctx, "SET", x.entryKey(k), val, "PXAT", ms(exp))
	for _, set := range x.sets(e) {
		p.ZAdd(ctx, set, redis.Z{Score: float64(exp.UnixMilli()), Member: k})
		p.Do(ctx, "PEXPIREAT", set, ms(exp), "NX")
	}
}

// PutBack stores filled session i again, as a sign-in would.
func (m *Manager) PutBack(ctx context.Context, iss string, i int, f Filled) error {
	exp := time.Now().Add(24 * time.Hour)
	if err := m.backend.store.CommitCtx(ctx, FillKey(i), f.Session, exp); err != nil {
		return err
	}
	if err := m.backend.store.CommitCtx(ctx, tokenKey(FillKey(i)), f.Tokens, exp); err != nil {
		return err
	}
	return m.backend.index.Add(ctx, FillKey(i), IndexEntry{Issuer: iss, Subject: FillSubject(i), SID: FillSID(i), Expiry: exp})
}

// Stored reports whether a session is stored under key, and whether it
// has an index entry.
func (m *Manager) Stored(ctx context.Context, key string) (session, entry bool, err error) {
	if _, session, err = m.backend.store.FindCtx(ctx, key); err != nil {
		return false, false, err
	}
	entry, err = m.backend.index.Has(ctx, key)
	return session, entry, err
}

// StoreBytes is the store's size: the SQLite database's pages,
// PostgreSQL's relations, or Redis's used memory (the whole server's).
func (m *Manager) StoreBytes(ctx context.Context) (int64, error) {
	x := m.backend.index
	if c, ok := x.(cachedIndex); ok {
		x = c.Index
	}
	var n int64
	switch x := x.(type) {
	case sqlIndex:
		q := `SELECT pg_total_relation_size('rp_sessions') + pg_total_relation_size('rp_session_index')`
		if x.sessions == "sessions" {
			if _, err := x.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				return 0, err
			}
			q = `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`
		}
		if err := x.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return 0, err
		}
	case redisIndex:
		info, err := x.c.InfoMap(ctx, "memory").Result()
		if err != nil {
			return 0, err
		}
		n, _ = strconv.ParseInt(info["Memory"]["used_memory"], 10, 64)
	default:
		return 0, fmt.Errorf("session: no size for %T", x)
	}
	return n, nil
}
