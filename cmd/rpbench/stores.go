package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// A store gives rp's RP_SESSION_STORE for one run of a target, fresh, and
// cleans up after it.
type store struct {
	name    string
	prepare func(h *Harness) (spec string, cleanup func(), err error)
	procs   []string // command names of the store server's processes
	// conns, when set, counts the connections the store server has
	// accepted so far (for the store's database, or in all).
	conns func(h *Harness) (int64, error)
}

var stores = []store{
	{name: "memory", prepare: func(*Harness) (string, func(), error) { return "memory", func() {}, nil }},
	{name: "sqlite", prepare: func(h *Harness) (string, func(), error) {
		// A new file each time, in the temporary directory (removed at the end).
		return "sqlite:" + filepath.Join(h.Dir, fmt.Sprintf("sessions-%d.db", time.Now().UnixNano())), func() {}, nil
	}},
	{name: "redis", prepare: prepareRedis, procs: []string{"redis-server"}, conns: redisConns},
	{name: "postgres", prepare: preparePostgres, procs: []string{"postgres"}, conns: postgresConns},
}

// prepareRedis flushes the -redis database, before and after.
func prepareRedis(h *Harness) (string, func(), error) {
	spec := h.Opts.RedisURL
	opts, err := redis.ParseURL(spec)
	if err != nil {
		return "", nil, fmt.Errorf("-redis %q: %w", spec, err)
	}
	if opts.DB == 0 {
		return "", nil, fmt.Errorf("-redis %q: rpbench flushes the database it is given; name one other than 0, e.g. redis://127.0.0.1:6379/9", spec)
	}
	c := redis.NewClient(opts)
	flush := func() error {
		// Also after an interrupt: the database may hold gigabytes.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(h.Ctx), time.Minute)
		defer cancel()
		return c.FlushDB(ctx).Err()
	}
	ctx, cancel := context.WithTimeout(h.Ctx, 3*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		c.Close()
		return "", nil, fmt.Errorf("Redis at %s is not reachable (%v): %w", opts.Addr, err, errSkip)
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "redis_version:"); ok {
			h.Machine.AddVersion("**Redis**: " + v + " on loopback (database " + fmt.Sprint(opts.DB) + ").")
		}
	}
	if err := flush(); err != nil {
		c.Close()
		return "", nil, fmt.Errorf("flushing Redis database %d: %w", opts.DB, err)
	}
	return spec, func() { _ = flush(); c.Close() }, nil
}

// preparePostgres creates the -postgres database afresh (dropping it
// first), and drops it after.
func preparePostgres(h *Harness) (string, func(), error) {
	spec := h.Opts.PostgresURL
	u, err := url.Parse(spec)
	if err != nil {
		return "", nil, fmt.Errorf("-postgres %q: %w", spec, err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || slices.Contains([]string{"postgres", "test", "template0", "template1"}, name) || strings.ContainsAny(name, `/"`) {
		return "", nil, fmt.Errorf("-postgres %q: name a database rpbench may drop and create, e.g. /rpbench", spec)
	}
	admin := *u
	admin.Path = "/postgres"
	exec := func(stmts ...string) error {
		// Also after an interrupt: the database may hold gigabytes.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(h.Ctx), time.Minute)
		defer cancel()
		c, err := pgx.Connect(ctx, admin.String())
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		for _, s := range stmts {
			if _, err := c.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(h.Ctx, 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL at %s is not reachable (%v): %w", u.Host, err, errSkip)
	}
	var version string
	if err := c.QueryRow(ctx, "SHOW server_version").Scan(&version); err == nil {
		h.Machine.AddVersion("**PostgreSQL**: " + version + " on loopback.")
	}
	c.Close(ctx)
	quoted := `"` + name + `"`
	if err := exec("DROP DATABASE IF EXISTS "+quoted+" WITH (FORCE)", "CREATE DATABASE "+quoted); err != nil {
		return "", nil, err
	}
	return spec, func() { _ = exec("DROP DATABASE IF EXISTS " + quoted + " WITH (FORCE)") }, nil
}

// redisConns is Redis's total_connections_received, less the one asking.
func redisConns(h *Harness) (int64, error) {
	opts, err := redis.ParseURL(h.Opts.RedisURL)
	if err != nil {
		return 0, err
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(h.Ctx, 3*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "stats").Result()
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "total_connections_received:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n - 1, err
		}
	}
	return 0, fmt.Errorf("no total_connections_received in INFO stats")
}

// postgresConns is pg_stat_database.sessions of the -postgres database
// (asked from the postgres database, so not counting itself). PostgreSQL
// updates it within a second or so.
func postgresConns(h *Harness) (int64, error) {
	u, err := url.Parse(h.Opts.PostgresURL)
	if err != nil {
		return 0, err
	}
	name := strings.TrimPrefix(u.Path, "/")
	admin := *u
	admin.Path = "/postgres"
	ctx, cancel := context.WithTimeout(h.Ctx, 3*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n int64
	err = c.QueryRow(ctx, "SELECT sessions FROM pg_stat_database WHERE datname = $1", name).Scan(&n)
	return n, err
}
