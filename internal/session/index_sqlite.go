package session

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// sqliteIndex keeps the index in the same SQLite file as the sessions.
type sqliteIndex struct{ db *sql.DB }

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
CREATE TABLE IF NOT EXISTS rp_once (
	key TEXT PRIMARY KEY,
	expiry INTEGER NOT NULL
);
`

func (x sqliteIndex) Add(ctx context.Context, key string, e IndexEntry) error {
	_, err := x.db.ExecContext(ctx,
		`REPLACE INTO rp_session_index (key, iss, sub, sid, expiry) VALUES (?, ?, ?, ?, ?)`,
		key, e.Issuer, e.Subject, e.SID, e.Expiry.Unix())
	if err != nil {
		return fmt.Errorf("%w: indexing session: %w", ErrStore, err)
	}
	return nil
}

func (x sqliteIndex) Remove(ctx context.Context, key string) error {
	if _, err := x.db.ExecContext(ctx, `DELETE FROM rp_session_index WHERE key = ?`, key); err != nil {
		return fmt.Errorf("%w: removing index entry: %w", ErrStore, err)
	}
	return nil
}

func (x sqliteIndex) Find(ctx context.Context, iss, sub, sid string) ([]string, error) {
	if sub == "" && sid == "" {
		return nil, nil
	}
	rows, err := x.db.QueryContext(ctx,
		`SELECT key FROM rp_session_index WHERE iss = ? AND (? = '' OR sid = ?) AND (? = '' OR sub = ?)`,
		iss, sid, sid, sub, sub)
	if err != nil {
		return nil, fmt.Errorf("%w: searching the index: %w", ErrStore, err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("%w: reading the index: %w", ErrStore, err)
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

func (x sqliteIndex) Claim(ctx context.Context, key string, expiry time.Time) (bool, error) {
	res, err := x.db.ExecContext(ctx,
		`INSERT INTO rp_once (key, expiry) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, expiry.Unix())
	if err != nil {
		return false, fmt.Errorf("%w: claiming a single-use value: %w", ErrStore, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%w: claiming a single-use value: %w", ErrStore, err)
	}
	return n == 1, nil
}

func (x sqliteIndex) DeleteExpired(ctx context.Context, now time.Time) error {
	for _, table := range []string{"rp_session_index", "rp_once"} {
		if _, err := x.db.ExecContext(ctx, `DELETE FROM `+table+` WHERE expiry <= ?`, now.Unix()); err != nil {
			return fmt.Errorf("%w: pruning %s: %w", ErrStore, table, err)
		}
	}
	return nil
}
