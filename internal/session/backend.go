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
// Both are SQLite: "memory" is a private in-memory database, so the two
// share one implementation of the store and the index (scs's memstore also
// races between its cleanup goroutine and StopCleanup).
func openBackend(ctx context.Context, spec string, cleanup time.Duration) (*backend, error) {
	switch {
	case spec == "memory":
		// One connection holds the database: it lives as long as rp.
		return openSQLite(ctx, "file::memory:", "", 1, cleanup)
	case strings.HasPrefix(spec, "sqlite:"):
		path := strings.TrimPrefix(spec, "sqlite:")
		if err := createPrivate(path); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStore, err)
		}
		// WAL lets readers run beside the writer; busy_timeout makes a
		// second writer wait instead of failing.
		dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)"
		return openSQLite(ctx, dsn, path, 0, cleanup)
	default:
		return nil, fmt.Errorf("session: unsupported store %q", spec)
	}
}

// openSQLite opens dsn, creates the tables, and restricts the file (when
// there is one) to its owner. maxConns 0 means no limit.
func openSQLite(ctx context.Context, dsn, path string, maxConns int, cleanup time.Duration) (*backend, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: opening sqlite %s: %w", ErrStore, path, err)
	}
	if maxConns > 0 {
		db.SetMaxOpenConns(maxConns)
		db.SetMaxIdleConns(maxConns)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	}
	if _, err := db.ExecContext(ctx, sqliteSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: preparing sqlite %s: %w", ErrStore, path, err)
	}
	if path != "" {
		// SQLite gives -wal and -shm the main file's mode; an existing
		// database from an older rp may have them wider.
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.Chmod(f, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
				db.Close()
				return nil, fmt.Errorf("%w: restricting %s to its owner: %w", ErrStore, f, err)
			}
		}
	}
	st := sqlite3store.NewWithCleanupInterval(db, cleanup)
	return &backend{
		store: sqliteStore{SQLite3Store: st, db: db},
		index: sqliteIndex{db: db},
		ping: func(ctx context.Context) error {
			var n int
			return db.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM sessions LIMIT 1)").Scan(&n)
		},
		close: func() error { st.StopCleanup(); return db.Close() },
	}, nil
}

// createPrivate makes sure the database file exists with mode 0600 before
// SQLite opens it: sessions hold tokens, and SQLite creates its -wal and
// -shm files with the main file's mode.
func createPrivate(path string) error {
	if strings.ContainsAny(path, "?#") {
		return fmt.Errorf("session file path %q must not contain ? or #", path)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating the directory of %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	return f.Close()
}
