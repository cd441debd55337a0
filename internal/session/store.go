package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	_ "modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"
)

// backend is one configured store: scs's store for session data, the
// sid/sub index beside it, and how to check and close both.
type backend struct {
	store scs.Store
	index Index
	ping  func(context.Context) error
	close func() error
}

// openBackend opens the store named by spec: "memory" or "sqlite:PATH".
func openBackend(ctx context.Context, spec string, cleanup time.Duration) (*backend, error) {
	switch {
	case spec == "memory":
		st := memstore.NewWithCleanupInterval(cleanup)
		return &backend{
			store: st,
			index: newMemoryIndex(),
			ping:  func(context.Context) error { return nil },
			close: func() error { st.StopCleanup(); return nil },
		}, nil
	case strings.HasPrefix(spec, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(spec, "sqlite:"), cleanup)
	default:
		return nil, fmt.Errorf("session: unsupported store %q", spec)
	}
}

func openSQLite(ctx context.Context, path string, cleanup time.Duration) (*backend, error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("session: creating the directory of %s: %w", path, err)
		}
	}
	// WAL lets readers run beside the writer; busy_timeout makes a second
	// writer wait instead of failing.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("session: opening sqlite %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, sqliteSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("session: preparing sqlite %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
		db.Close()
		return nil, fmt.Errorf("session: restricting %s to its owner: %w", path, err)
	}
	st := sqlite3store.NewWithCleanupInterval(db, cleanup)
	return &backend{
		store: st,
		index: sqliteIndex{db: db},
		ping: func(ctx context.Context) error {
			var one int
			return db.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM sessions LIMIT 1)").Scan(&one)
		},
		close: func() error { st.StopCleanup(); return db.Close() },
	}, nil
}
