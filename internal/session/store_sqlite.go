package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alexedwards/scs/sqlite3store"
	_ "modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"
)

const sqliteSchema = `
CREATE TABLE IF NOT EXISTS sessions (
	token TEXT PRIMARY KEY,
	data BLOB NOT NULL,
	expiry REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions(expiry);
CREATE TABLE IF NOT EXISTS rp_session_index (
	key TEXT PRIMARY KEY,
	iss TEXT NOT NULL,
	sub TEXT NOT NULL,
	sid TEXT NOT NULL,
	expiry INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rp_session_index_sid ON rp_session_index(iss, sid);
CREATE INDEX IF NOT EXISTS rp_session_index_sub ON rp_session_index(iss, sub);
CREATE INDEX IF NOT EXISTS rp_session_index_expiry ON rp_session_index(expiry);
CREATE TABLE IF NOT EXISTS rp_once (
	key TEXT PRIMARY KEY,
	expiry INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rp_once_expiry ON rp_once(expiry);
`

// openSQLite opens dsn, creates the tables, and restricts the file (when
// there is one) to its owner. maxConns 0 means no limit.
func openSQLite(ctx context.Context, dsn, path string, maxConns int, cleanup time.Duration, log *slog.Logger) (*backend, error) {
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
	// sqlite3store's Find, prepared once: parsing the statement on every
	// request was half of a signed-in request's store cost.
	find, err := db.PrepareContext(ctx, "SELECT data, expiry FROM sessions WHERE token = $1 AND julianday('now') < expiry")
	if err != nil {
		st.StopCleanup()
		db.Close()
		return nil, fmt.Errorf("%w: preparing sqlite %s: %w", ErrStore, path, err)
	}
	store := sqliteStore{SQLite3Store: st, db: db, find: find}
	b := &backend{
		store: store,
		index: sqlIndex{db: db, sessions: "sessions", ready: func(context.Context) error { return nil }},
		ping: func(ctx context.Context) error {
			var n int
			return db.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM sessions LIMIT 1)").Scan(&n)
		},
		close: func() error { st.StopCleanup(); return db.Close() },
	}
	// Reads are cached when no other process writes the database: in
	// memory, or a file whose lock this process holds until it exits.
	unlock, only := func() error { return nil }, true
	if path != "" {
		unlock, only = lockFile(path + ".rp-lock")
		if !only {
			log.Warn("another process (a second rp?) uses this SQLite file: sessions are read from the file on every request; "+
				"for several instances use redis:// or postgres://", "path", path)
		}
	}
	if only {
		c := newReadCache()
		b.store = cachedStore{CtxStore: store, find: store, cache: c}
		b.index = cachedIndex{Index: b.index, cache: c}
	}
	closeDB := b.close
	b.close = func() error { err := closeDB(); _ = unlock(); return err }
	return b, nil
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

// sqliteStore is scs's sqlite3store, plus the update-only rule (see
// withUpdateOnly). sqlite3store takes no context; a local file needs no
// timeout.
type sqliteStore struct {
	*sqlite3store.SQLite3Store
	db   *sql.DB
	find *sql.Stmt // sqlite3store's Find query, prepared
}

// sqliteTime is how sqlite3store writes expiries, read with julianday().
const sqliteTime = "2006-01-02T15:04:05.999"

// FindCtx is sqlite3store's Find, with its statement prepared.
func (s sqliteStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	b, _, found, err := s.findExpiring(ctx, token)
	return b, found, err
}

// findExpiring is FindCtx that also says when the session expires.
func (s sqliteStore) findExpiring(_ context.Context, token string) ([]byte, time.Time, bool, error) {
	var b []byte
	var julian float64
	err := s.find.QueryRow(token).Scan(&b, &julian)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, err
	}
	// Julian day 2440587.5 is the Unix epoch.
	return b, time.UnixMilli(int64((julian - 2440587.5) * 86400 * 1000)), true, nil
}

// DeleteCtx is sqlite3store's Delete.
func (s sqliteStore) DeleteCtx(_ context.Context, token string) error {
	return s.SQLite3Store.Delete(token)
}

// CommitCtx saves a session; a loaded session is only updated.
func (s sqliteStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if !updateOnly(ctx) {
		return s.SQLite3Store.Commit(token, b, expiry)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE sessions SET data = ?, expiry = julianday(?) WHERE token = ?`,
		b, expiry.UTC().Format(sqliteTime), token)
	return updated(res, err)
}
