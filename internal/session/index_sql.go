package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// sqlIndex keeps the index and the single-use claims in two tables of the
// SQL database that holds the sessions (SQLite or PostgreSQL; the queries
// are written for both).
type sqlIndex struct {
	db       *sql.DB
	sessions string // scs's session table: token, data, expiry
	ready    func(context.Context) error
	// pruneSessions deletes expired sessions, where scs's store does not
	// do it itself.
	pruneSessions string
}

// Table names beside scs's session table.
const (
	indexTable = "rp_session_index"
	onceTable  = "rp_once"
)

// maxBatch bounds the keys of one DELETE ... IN (...) statement.
const maxBatch = 500

func (x sqlIndex) exec(ctx context.Context, what, query string, args ...any) (sql.Result, error) {
	if err := x.ready(ctx); err != nil {
		return nil, err
	}
	res, err := x.db.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrStore, what, err)
	}
	return res, nil
}

func (x sqlIndex) Add(ctx context.Context, key string, e IndexEntry) error {
	_, err := x.exec(ctx, "indexing a session",
		`INSERT INTO `+indexTable+` (key, iss, sub, sid, expiry) VALUES ($1, $2, $3, $4, $5)
		 ON CONFLICT (key) DO UPDATE SET iss = excluded.iss, sub = excluded.sub, sid = excluded.sid, expiry = excluded.expiry`,
		key, e.Issuer, e.Subject, e.SID, e.Expiry.Unix())
	return err
}

func (x sqlIndex) Touch(ctx context.Context, key string, e IndexEntry) error {
	_, err := x.exec(ctx, "extending an index entry",
		`UPDATE `+indexTable+` SET expiry = $2 WHERE key = $1 AND expiry < $2`, key, e.Expiry.Unix())
	return err
}

func (x sqlIndex) Remove(ctx context.Context, key string) error {
	_, err := x.exec(ctx, "removing an index entry", `DELETE FROM `+indexTable+` WHERE key = $1`, key)
	return err
}

func (x sqlIndex) Has(ctx context.Context, key string) (bool, error) {
	if err := x.ready(ctx); err != nil {
		return false, err
	}
	var one int
	err := x.db.QueryRowContext(ctx, `SELECT 1 FROM `+indexTable+` WHERE key = $1`, key).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: reading the index: %w", ErrStore, err)
	}
	return true, nil
}

func (x sqlIndex) Find(ctx context.Context, iss, sub, sid string) ([]string, error) {
	if err := x.ready(ctx); err != nil {
		return nil, err
	}
	// One query per shape, so that each uses its index.
	now := time.Now().Unix()
	var rows *sql.Rows
	var err error
	const sel = `SELECT key FROM ` + indexTable + ` WHERE iss = $1 AND `
	switch {
	case sid != "" && sub != "":
		rows, err = x.db.QueryContext(ctx, sel+`sid = $2 AND sub = $3 AND expiry > $4`, iss, sid, sub, now)
	case sid != "":
		rows, err = x.db.QueryContext(ctx, sel+`sid = $2 AND expiry > $3`, iss, sid, now)
	case sub != "":
		rows, err = x.db.QueryContext(ctx, sel+`sub = $2 AND expiry > $3`, iss, sub, now)
	default:
		return nil, nil
	}
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: reading the index: %w", ErrStore, err)
	}
	return keys, nil
}

func (x sqlIndex) Delete(ctx context.Context, keys []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	if err := x.ready(ctx); err != nil {
		return 0, err
	}
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("%w: ending sessions: %w", ErrStore, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	deleted := 0
	for start := 0; start < len(keys); start += maxBatch {
		batch := keys[start:min(start+maxBatch, len(keys))]
		in, args := placeholders(batch)
		res, err := tx.ExecContext(ctx, `DELETE FROM `+x.sessions+` WHERE token IN (`+in+`)`, args...)
		if err != nil {
			return 0, fmt.Errorf("%w: ending sessions: %w", ErrStore, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("%w: ending sessions: %w", ErrStore, err)
		}
		deleted += int(n)
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+indexTable+` WHERE key IN (`+in+`)`, args...); err != nil {
			return 0, fmt.Errorf("%w: ending sessions: %w", ErrStore, err)
		}
		tokens := make([]any, len(args))
		for i, k := range batch {
			tokens[i] = tokenKey(k)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+x.sessions+` WHERE token IN (`+in+`)`, tokens...); err != nil {
			return 0, fmt.Errorf("%w: ending sessions' tokens: %w", ErrStore, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("%w: ending sessions: %w", ErrStore, err)
	}
	return deleted, nil
}

// placeholders returns "$1, $2, ..." for keys, and keys as arguments.
func placeholders(keys []string) (string, []any) {
	var b strings.Builder
	args := make([]any, len(keys))
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i+1)
		args[i] = k
	}
	return b.String(), args
}

func (x sqlIndex) Claim(ctx context.Context, key string, expiry time.Time) (bool, error) {
	// A claim past its expiry that pruning has not removed yet may be
	// taken again.
	res, err := x.exec(ctx, "claiming a single-use value",
		`INSERT INTO `+onceTable+` (key, expiry) VALUES ($1, $2)
		 ON CONFLICT (key) DO UPDATE SET expiry = excluded.expiry WHERE `+onceTable+`.expiry <= $3`,
		key, expiry.Unix(), time.Now().Unix())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%w: claiming a single-use value: %w", ErrStore, err)
	}
	return n == 1, nil
}

func (x sqlIndex) Release(ctx context.Context, key string) error {
	_, err := x.exec(ctx, "releasing a single-use value", `DELETE FROM `+onceTable+` WHERE key = $1`, key)
	return err
}

func (x sqlIndex) DeleteExpired(ctx context.Context, now time.Time) error {
	if x.pruneSessions != "" {
		if _, err := x.exec(ctx, "pruning expired sessions", x.pruneSessions); err != nil {
			return err
		}
	}
	for _, table := range []string{indexTable, onceTable} {
		if _, err := x.exec(ctx, "pruning "+table, `DELETE FROM `+table+` WHERE expiry <= $1`, now.Unix()); err != nil {
			return err
		}
	}
	return nil
}
