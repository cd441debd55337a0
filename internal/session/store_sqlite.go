package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/sqlite3store"
)

// errSessionGone is returned by a store's CommitCtx when a session that a
// request loaded was deleted before the request saved it.
var errSessionGone = errors.New("session: ended while the request ran")

type updateOnlyKey struct{}

// withUpdateOnly marks a commit as the save of a session that existed when
// the request loaded it.
func withUpdateOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, updateOnlyKey{}, true)
}

func updateOnly(ctx context.Context) bool {
	v, _ := ctx.Value(updateOnlyKey{}).(bool)
	return v
}

// sqliteStore is scs's sqlite3store, plus one rule scs lacks: a request
// may update the session it loaded but never bring it back. With an idle
// timeout scs saves every session on every request; without this rule a
// page request that loaded the session before a logout (or before a sign-in
// renewed the token) and finished after it would write the ended session
// back, and a copied cookie would work again.
type sqliteStore struct {
	*sqlite3store.SQLite3Store
	db *sql.DB
}

// sqliteTime is how sqlite3store writes expiries, read with julianday().
const sqliteTime = "2006-01-02T15:04:05.999"

// CommitCtx saves a session; see sqliteStore.
func (s sqliteStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if !updateOnly(ctx) {
		return s.SQLite3Store.Commit(token, b, expiry)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE sessions SET data = ?, expiry = julianday(?) WHERE token = ?`,
		b, expiry.UTC().Format(sqliteTime), token)
	if err != nil {
		return fmt.Errorf("updating the session: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("updating the session: %w", err)
	}
	if n == 0 {
		return errSessionGone
	}
	return nil
}
