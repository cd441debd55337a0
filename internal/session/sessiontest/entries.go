package sessiontest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // the driver rp's SQLite store uses
)

// Entries counts what the store at spec holds, read from outside rp: the
// keys under a Redis store's key prefix, or the rows of every table of a
// PostgreSQL or SQLite store. A test compares two counts to see whether
// something was written. The memory store cannot be read from outside:
// Entries fails the test for it.
func Entries(tb testing.TB, spec string) int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := entries(ctx, spec)
	if err != nil {
		tb.Fatalf("counting what %s holds: %v", redact(spec), err)
	}
	return n
}

func entries(ctx context.Context, spec string) (int64, error) {
	switch {
	case strings.HasPrefix(spec, "redis://"):
		opts, err := redis.ParseURL(stripQuery(spec))
		if err != nil {
			return 0, err
		}
		u, _ := url.Parse(spec)
		prefix := u.Query().Get("key_prefix")
		if prefix == "" {
			prefix = "rp:"
		}
		c := redis.NewClient(opts)
		defer c.Close()
		var n int64
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			n++
		}
		return n, iter.Err()
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		c, err := pgx.Connect(ctx, spec)
		if err != nil {
			return 0, err
		}
		defer c.Close(ctx)
		rows, err := c.Query(ctx, `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables
			WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`)
		if err != nil {
			return 0, err
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return 0, err
		}
		var total int64
		for _, t := range tables {
			var n int64
			if err := c.QueryRow(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
				return 0, err
			}
			total += n
		}
		return total, nil
	case strings.HasPrefix(spec, "sqlite:"):
		db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(spec, "sqlite:")+"?mode=ro")
		if err != nil {
			return 0, err
		}
		defer db.Close()
		rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
		if err != nil {
			return 0, err
		}
		var tables []string
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return 0, err
			}
			tables = append(tables, t)
		}
		rows.Close()
		var total int64
		for _, t := range tables {
			var n int64
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM "`+strings.ReplaceAll(t, `"`, `""`)+`"`).Scan(&n); err != nil {
				return 0, err
			}
			total += n
		}
		return total, nil
	}
	return 0, fmt.Errorf("cannot be read from outside rp")
}

func stripQuery(spec string) string {
	u, err := url.Parse(spec)
	if err != nil {
		return spec
	}
	u.RawQuery = ""
	return u.String()
}

func redact(spec string) string {
	u, err := url.Parse(spec)
	if err != nil {
		return "the store"
	}
	return u.Redacted()
}
