package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// errSessionGone is returned by a store's CommitCtx when a session that a
// request loaded was deleted before the request saved it.
var errSessionGone = errors.New("session: ended while the request ran")

type updateOnlyKey struct{}

// withUpdateOnly marks a commit as the save of a session that existed when
// the request loaded it. Every store follows one rule scs lacks: a request
// may update the session it loaded but never bring it back. Without it, a
// page request that loaded the session before a logout (or before a
// sign-in renewed the token, or before the provider ended it through the
// back channel) and finished after it would write the ended session back,
// and a copied cookie would work again.
func withUpdateOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, updateOnlyKey{}, true)
}

func updateOnly(ctx context.Context) bool {
	v, _ := ctx.Value(updateOnlyKey{}).(bool)
	return v
}

// updated turns the result of an SQL UPDATE of one session into nil, or
// errSessionGone when no row was there to update.
func updated(res sql.Result, err error) error {
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
