package session

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// activeCounter is an Index that can count its sessions cheaply: one query
// on an indexed column, not a scan of every key. Redis's index cannot (its
// sets are per sid and per sub), so it does not implement it.
type activeCounter interface {
	countActive(ctx context.Context, now time.Time) (int64, error)
}

// countActive counts the entries of sessions whose deadline has not
// passed: an entry expires indexGrace after its session's deadline.
func (x sqlIndex) countActive(ctx context.Context, now time.Time) (int64, error) {
	if err := x.ready(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := x.db.QueryRowContext(ctx, `SELECT count(*) FROM `+indexTable+` WHERE expiry > $1`,
		now.Add(indexGrace).Unix()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("%w: counting sessions: %w", ErrStore, err)
	}
	return n, nil
}

// countActive passes through the cache: counts are never cached.
func (x cachedIndex) countActive(ctx context.Context, now time.Time) (int64, error) {
	c, ok := x.Index.(activeCounter)
	if !ok {
		return 0, errCannotCount
	}
	return c.countActive(ctx, now)
}

var errCannotCount = errors.New("session: this store cannot count its sessions cheaply")

// CanCount reports whether the store counts its sessions cheaply (SQLite,
// memory and PostgreSQL do; Redis does not).
func (m *Manager) CanCount() bool {
	_, ok := m.index.inner.(activeCounter)
	return ok
}

// countTimeout bounds a count: longer than a request's store timeout (a
// count reads every entry of the index), and kept out of the store's
// error counters, whose alerts mean users get 503 pages.
const countTimeout = 10 * time.Second

// CountActive returns how many signed-in sessions the store holds whose
// deadline (the idle timeout or the lifetime, whichever comes first) has
// not passed, for every instance sharing the store. The idle deadline
// moves forward at most every TouchEvery, so an active session is counted
// and an idle one stops counting within a minute of its idle timeout. It
// is one query, bounded by countTimeout, and counted as one read.
func (m *Manager) CountActive(ctx context.Context) (int64, error) {
	c, ok := m.index.inner.(activeCounter)
	if !ok {
		return 0, errCannotCount
	}
	m.counters.reads.Add(1)
	ctx, cancel := context.WithTimeout(ctx, countTimeout)
	defer cancel()
	return c.countActive(ctx, m.now())
}
