package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // registered as "sqlite"

	"github.com/rp-project/rp/internal/session"
)

// What a store holds, measured from outside rp: its keys or rows, and its
// size. The anonymous scenario compares them before and after a load.

// storeLevel is a store at one moment.
type storeLevel struct {
	Unit  string           // what Count counts: "keys", "rows", or "" where it cannot be counted
	Count int64            // keys of the database, or rows of every table
	Parts map[string]int64 // Count by table, or by key prefix
	Size  int64            // bytes, the size the goal is judged on
	Info  []levelInfo      // other sizes, reported only
	// Others is what the store server holds besides the measured
	// database (Redis: the other databases' keyspace), to tell whether
	// another client wrote to the server meanwhile.
	Others string
}

type levelInfo struct {
	Name  string
	Bytes int64
}

// gauge measures one store, over one connection of its own kept for the
// whole target (a new one could move the size: PostgreSQL writes a cache
// file for a new connection, Redis counts each client's buffers).
type gauge struct {
	// SizeOf says what storeLevel.Size is; Tolerance is how far it may
	// move without a write, and Why says why.
	SizeOf, Tolerance, Why string
	TolBytes               int64
	measure                func(ctx context.Context) (storeLevel, error)
	close                  func()
}

// The tolerances on the judged size: what each store's own bookkeeping may
// move without anything stored. The key and row counts have none.
const (
	tolRedis    = 64 << 10
	tolPostgres = 64 << 10
)

// newGauge opens a gauge on store name at spec; the memory store is
// measured through rp's own session manager m (rp runs in this process).
func newGauge(ctx context.Context, h *Harness, name, spec string, m *session.Manager) (*gauge, error) {
	switch name {
	case "sqlite":
		return sqliteGauge(ctx, strings.TrimPrefix(spec, "sqlite:"))
	case "redis":
		return redisGauge(ctx, h.Opts.RedisURL)
	case "postgres":
		return postgresGauge(ctx, spec)
	case "memory":
		return &gauge{
			SizeOf: "the in-memory SQLite database's pages (page count × 64 KiB pages)", Tolerance: "none",
			Why: "SQLite adds a page only when a transaction stores more than the free pages hold. " +
				"The memory store lives in rp's process: rp runs in rpbench's for it, and its rows cannot be counted from there",
			measure: func(ctx context.Context) (storeLevel, error) {
				n, err := m.StoreBytes(ctx)
				return storeLevel{Size: n}, err
			},
			close: func() {},
		}, nil
	}
	return nil, fmt.Errorf("no gauge for the %s store", name)
}

// sqliteGauge counts the rows of every table of the database file and
// sizes the file with its write-ahead log.
func sqliteGauge(ctx context.Context, path string) (*gauge, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	size := func(p string) (int64, error) {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	return &gauge{
		SizeOf: "the database file and its write-ahead log (-wal)", Tolerance: "none",
		Why: "SQLite writes to the log only when a transaction changes a page, and reading writes nothing",
		measure: func(ctx context.Context) (storeLevel, error) {
			l := storeLevel{Unit: "rows", Parts: map[string]int64{}}
			tables, err := sqlStrings(ctx, db, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
			if err != nil {
				return l, fmt.Errorf("listing the tables of %s: %w", path, err)
			}
			for _, t := range tables {
				var n int64
				if err := db.QueryRowContext(ctx, `SELECT count(*) FROM "`+strings.ReplaceAll(t, `"`, `""`)+`"`).Scan(&n); err != nil {
					return l, fmt.Errorf("counting %s: %w", t, err)
				}
				l.Parts[t], l.Count = n, l.Count+n
			}
			main, err := size(path)
			if err != nil {
				return l, err
			}
			wal, err := size(path + "-wal")
			if err != nil {
				return l, err
			}
			var pages int64
			if err := db.QueryRowContext(ctx, `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`).Scan(&pages); err != nil {
				return l, err
			}
			l.Size = main + wal
			l.Info = []levelInfo{{"database file", main}, {"-wal", wal}, {"database pages", pages}}
			return l, nil
		},
		close: func() { db.Close() },
	}, nil
}

func sqlStrings(ctx context.Context, db *sql.DB, q string) ([]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// redisGauge counts the keys of the -redis database (rpbench's own,
// flushed before) and reads the server's memory.
func redisGauge(ctx context.Context, spec string) (*gauge, error) {
	opts, err := redis.ParseURL(spec)
	if err != nil {
		return nil, err
	}
	opts.PoolSize, opts.MinIdleConns = 1, 1
	c := redis.NewClient(opts)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, err
	}
	db := "db" + strconv.Itoa(opts.DB)
	return &gauge{
		SizeOf: "the server's used_memory less its clients' buffers (mem_clients_normal)", Tolerance: fmtBytes(tolRedis), TolBytes: tolRedis,
		Why: "the clients' buffers grow and shrink with the connections (rp's pool, rpbench's own), so they are left out, and read once Redis has settled them " +
			"(two readings half a second apart within 1 KiB); what remains moves with Redis's own bookkeeping without a key written: some 500 bytes per client connection " +
			"that mem_clients_normal does not count (rp's pool opens up to 10 per CPU), the hash tables, the script cache. " +
			"One stored session of this benchmark is some 2.6 KB, and the key count has no tolerance. used_memory is the whole server's: " +
			"when another database changed during the run, the size is not judged",
		measure: func(ctx context.Context) (storeLevel, error) {
			l := storeLevel{Unit: "keys", Parts: map[string]int64{}}
			var keysBytes int64
			var cursor uint64
			for {
				keys, next, err := c.Scan(ctx, cursor, "*", 1000).Result()
				if err != nil {
					return l, err
				}
				pipe := c.Pipeline()
				cmds := make([]*redis.IntCmd, len(keys))
				for i, k := range keys {
					cmds[i] = pipe.MemoryUsage(ctx, k, 0)
				}
				if len(keys) > 0 {
					if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
						return l, err
					}
				}
				for i, k := range keys {
					n, _ := cmds[i].Result() // a key that expired meanwhile: 0
					keysBytes += n
					l.Parts[keyPrefix(k)]++
				}
				if cursor = next; cursor == 0 {
					break
				}
			}
			n, err := c.DBSize(ctx).Result()
			if err != nil {
				return l, err
			}
			l.Count = n
			// Redis updates mem_clients_normal in its cron, a client at a
			// time, and shrinks idle clients' buffers there: read until
			// two readings half a second apart agree (10 s at most).
			var info map[string]map[string]string
			var used int64
			for i, last := 0, int64(math.MinInt64); ; i++ {
				if info, err = c.InfoMap(ctx, "memory", "keyspace").Result(); err != nil {
					return l, err
				}
				used, _ = strconv.ParseInt(info["Memory"]["used_memory"], 10, 64)
				clients, _ := strconv.ParseInt(info["Memory"]["mem_clients_normal"], 10, 64)
				l.Size = used - clients
				if abs(l.Size-last) <= 1<<10 || i == 20 {
					break
				}
				last = l.Size
				select {
				case <-ctx.Done():
					return l, ctx.Err()
				case <-time.After(500 * time.Millisecond):
				}
			}
			l.Info = []levelInfo{{"used_memory", used}, {"the keys' own (MEMORY USAGE)", keysBytes}}
			var others []string
			for _, k := range slices.Sorted(maps.Keys(info["Keyspace"])) {
				if k != db { // "keys=3,expires=1,avg_ttl=9000": the count only, avg_ttl moves by itself
					n, _, _ := strings.Cut(info["Keyspace"][k], ",")
					others = append(others, k+":"+n)
				}
			}
			l.Others = strings.Join(others, " ")
			return l, nil
		},
		close: func() { c.Close() },
	}, nil
}

// keyPrefix is a Redis key up to its second colon ("rp:s:"), or the whole
// key when it has fewer.
func keyPrefix(k string) string {
	i := strings.IndexByte(k, ':')
	if i < 0 {
		return k
	}
	if j := strings.IndexByte(k[i+1:], ':'); j >= 0 {
		return k[:i+1+j+1]
	}
	return k
}

// postgresGauge counts the rows of every table of the -postgres database
// (outside the system catalogs) and sizes them.
func postgresGauge(ctx context.Context, spec string) (*gauge, error) {
	c, err := pgx.Connect(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &gauge{
		SizeOf: "every table of the database with its indexes, TOAST, free-space and visibility maps (pg_total_relation_size)", Tolerance: fmtBytes(tolPostgres), TolBytes: tolPostgres,
		Why: "VACUUM may add a table's free-space and visibility maps (24 KiB and 8 KiB) without a row written; " +
			"the row count has no tolerance. pg_database_size is reported only: it also counts the relation cache file PostgreSQL writes for new connections",
		measure: func(ctx context.Context) (storeLevel, error) {
			l := storeLevel{Unit: "rows", Parts: map[string]int64{}}
			rows, err := c.Query(ctx, `SELECT schemaname, relname, pg_total_relation_size(relid) FROM pg_stat_user_tables ORDER BY 1, 2`)
			if err != nil {
				return l, err
			}
			type table struct {
				schema, name string
			}
			var tables []table
			for rows.Next() {
				var t table
				var size int64
				if err := rows.Scan(&t.schema, &t.name, &size); err != nil {
					rows.Close()
					return l, err
				}
				tables = append(tables, t)
				l.Size += size
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return l, err
			}
			for _, t := range tables {
				var n int64
				if err := c.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{t.schema, t.name}.Sanitize()).Scan(&n); err != nil {
					return l, fmt.Errorf("counting %s.%s: %w", t.schema, t.name, err)
				}
				name := t.name
				if t.schema != "public" {
					name = t.schema + "." + t.name
				}
				l.Parts[name], l.Count = n, l.Count+n
			}
			var dbSize int64
			if err := c.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&dbSize); err != nil {
				return l, err
			}
			l.Info = []levelInfo{{"pg_database_size", dbSize}}
			return l, nil
		},
		close: func() { c.Close(context.WithoutCancel(ctx)) },
	}, nil
}
