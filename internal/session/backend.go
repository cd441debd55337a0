package session

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
)

// backend is one configured store: scs's store for session data, the
// sid/sub index and single-use claims beside it, and how to check and close
// them.
type backend struct {
	store scs.CtxStore // saves of loaded sessions are update-only (see withUpdateOnly)
	index Index
	ping  func(context.Context) error
	close func() error
}

// backendOptions are what opening a store needs.
type backendOptions struct {
	spec     string        // RP_SESSION_STORE
	password string        // RP_SESSION_STORE_PASSWORD, for redis and postgres
	timeout  time.Duration // bound on each store call
	cleanup  time.Duration // how often expired rows are deleted, where the store does not expire them itself
	log      *slog.Logger
}

// openBackend opens the store named by o.spec: "memory", "sqlite:PATH",
// "redis://...", "rediss://..." or "postgres://...". A Redis or PostgreSQL
// server that is down does not stop it: calls fail with ErrStore until the
// server answers, and the connection pools reconnect by themselves.
func openBackend(ctx context.Context, o backendOptions) (*backend, error) {
	switch {
	case o.spec == "memory":
		// SQLite in memory, so that memory and file share one
		// implementation of the store and the index (scs's memstore also
		// races between its cleanup goroutine and StopCleanup). One
		// connection holds the database: it lives as long as rp.
		// 64 KiB pages: its pages live in memory allocated one by one, a
		// 4 KiB page with its header takes an 8 KiB allocation, and a 2 KB
		// tokens record fills a 4 KiB page alone (rpbench -scenario
		// memory: 10.5 KiB per session with 4 KiB pages, 3.7 KB with
		// 64 KiB ones).
		return openSQLite(ctx, "file::memory:?_pragma=page_size(65536)", "", 1, o.cleanup, o.log)
	case strings.HasPrefix(o.spec, "sqlite:"):
		path := strings.TrimPrefix(o.spec, "sqlite:")
		if err := createPrivate(path); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStore, err)
		}
		// WAL lets readers run beside the writer; busy_timeout makes a
		// second writer wait instead of failing.
		dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)"
		// One connection: SQLite has one writer at a time anyway, and
		// with several connections concurrent writers waited for its lock
		// in SQLite's busy handler (sleeps of milliseconds), and each
		// connection re-read from the file the pages another had written.
		// Reads mostly come from the read cache (cache.go). Measured with
		// rpbench -scenario signin: rp's CPU per sign-in went from 2.0 to
		// 2.7 ms down to 1.3 to 1.4 ms, and proxied requests from 1.03 to
		// 1.18 times the bare proxy's rate.
		return openSQLite(ctx, dsn, path, 1, o.cleanup, o.log)
	case strings.HasPrefix(o.spec, "redis://"), strings.HasPrefix(o.spec, "rediss://"):
		return openRedis(o)
	case strings.HasPrefix(o.spec, "postgres://"), strings.HasPrefix(o.spec, "postgresql://"):
		return openPostgres(ctx, o)
	default:
		// config.Validate refuses it first; the scheme alone, so no
		// password can show.
		scheme, _, _ := strings.Cut(o.spec, ":")
		return nil, fmt.Errorf("session: unsupported store kind %q", scheme)
	}
}

// loopback reports whether host is a loopback address or name, where a
// plaintext connection to a store is not worth a warning.
func loopback(host string) bool {
	if host == "localhost" || strings.HasPrefix(host, "/") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
