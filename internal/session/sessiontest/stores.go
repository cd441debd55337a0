// Package sessiontest gives tests their own session stores on the Redis
// and PostgreSQL servers of the machine (a key prefix, a database), a
// TCP proxy that can take a store away in the middle of a test, and Redis
// and PostgreSQL servers of a test's own that it can stop and restart
// (server.go).
//
// The servers are found at RP_TEST_REDIS_URL (default
// redis://127.0.0.1:6379/0) and RP_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). When one does
// not answer, tests that need it are skipped, except under CI=true, where
// they fail: .ci/run starts both servers.
package sessiontest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// RedisURL and PostgresURL are the servers tests use.
func RedisURL() string {
	return cmpEnv("RP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
}

func PostgresURL() string {
	return cmpEnv("RP_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
}

func cmpEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func unavailable(tb testing.TB, what string, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is not available: %v (.ci/run starts it)", what, err)
	}
	tb.Skipf("%s is not available: %v", what, err)
}

// Redis returns an RP_SESSION_STORE value on the test Redis with a key
// prefix of its own; the keys are deleted when the test ends.
func Redis(tb testing.TB) string {
	tb.Helper()
	base := RedisURL()
	opts, err := redis.ParseURL(base)
	if err != nil {
		tb.Fatalf("RP_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		unavailable(tb, "Redis at "+opts.Addr, err)
	}
	prefix := "rptest:" + rand.Text()[:10] + ":"
	tb.Cleanup(func() {
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
			if len(keys) == 1000 {
				c.Unlink(ctx, keys...)
				keys = keys[:0]
			}
		}
		if len(keys) > 0 {
			c.Unlink(ctx, keys...)
		}
	})
	return WithQuery(base, "key_prefix", prefix)
}

// Postgres returns an RP_SESSION_STORE value naming a new, empty database
// on the test PostgreSQL, dropped when the test ends.
func Postgres(tb testing.TB) string {
	tb.Helper()
	base := PostgresURL()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		unavailable(tb, "PostgreSQL", err)
	}
	name := "rp_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		tb.Fatalf("creating database %s: %v", name, err)
	}
	admin.Close(ctx)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Logf("dropping database %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("dropping database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("RP_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// PostgresAdmin returns the URL of the test PostgreSQL's own database, for
// statements outside a test's database (roles).
func PostgresAdmin(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, PostgresURL())
	if err != nil {
		unavailable(tb, "PostgreSQL", err)
	}
	c.Close(ctx)
	return PostgresURL()
}

// Exec runs statements on the PostgreSQL database at spec.
func Exec(tb testing.TB, spec string, statements ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, spec)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close(ctx)
	for _, s := range statements {
		if _, err := c.Exec(ctx, s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
}

// SQLite returns an RP_SESSION_STORE value for a file in a temporary
// directory of the test.
func SQLite(tb testing.TB) string {
	tb.Helper()
	return "sqlite:" + filepath.Join(tb.TempDir(), "sessions.db")
}

// All returns one store of each kind, by name: memory, sqlite, redis and
// postgres.
func All(tb testing.TB) []Store {
	tb.Helper()
	return []Store{
		{"memory", func(testing.TB) string { return "memory" }},
		{"sqlite", SQLite},
		{"redis", Redis},
		{"postgres", Postgres},
	}
}

// Store names a kind of store and makes one for a test.
type Store struct {
	Name string
	New  func(testing.TB) string
}

// Shared returns the stores several rp instances can share.
func Shared(tb testing.TB) []Store {
	tb.Helper()
	return All(tb)[2:]
}

// WithHost returns spec with its host:port replaced, to reach the store
// through a Proxy.
func WithHost(tb testing.TB, spec, hostport string) string {
	tb.Helper()
	u, err := url.Parse(spec)
	if err != nil {
		tb.Fatal(err)
	}
	u.Host = hostport
	return u.String()
}

// WithQuery returns spec with one query parameter set.
func WithQuery(spec, name, value string) string {
	u, err := url.Parse(spec)
	if err != nil {
		panic(fmt.Sprintf("sessiontest: %v", err))
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// Host returns the host:port of a store URL.
func Host(tb testing.TB, spec string) string {
	tb.Helper()
	u, err := url.Parse(spec)
	if err != nil {
		tb.Fatal(err)
	}
	return u.Host
}
