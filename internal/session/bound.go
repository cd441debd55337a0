package session

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Stats counts round trips to the store since the Manager opened: a read
// looks something up, a write changes something. Benchmarks report them
// per request.
type Stats struct {
	Reads  uint64
	Writes uint64
	Errors uint64 // calls that failed: the store down, slow or refusing
}

type counters struct{ reads, writes, errors atomic.Uint64 }

func (c *counters) stats() Stats {
	return Stats{Reads: c.reads.Load(), Writes: c.writes.Load(), Errors: c.errors.Load()}
}

// failed counts err when it is one.
func (c *counters) failed(err error) error {
	if err != nil && !errors.Is(err, errSessionGone) {
		c.errors.Add(1)
	}
	return err
}

// boundStore bounds every call to the session store by a timeout and
// counts it. It is what scs calls.
type boundStore struct {
	inner   scs.CtxStore
	timeout time.Duration
	n       *counters
}

var _ scs.CtxStore = boundStore{}

func (s boundStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	s.n.reads.Add(1)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	b, found, err := s.inner.FindCtx(ctx, token)
	return b, found, s.n.failed(err)
}

// findFresh is FindCtx past any cache.
func (s boundStore) findFresh(ctx context.Context, token string) ([]byte, bool, error) {
	f, ok := s.inner.(interface {
		findFresh(context.Context, string) ([]byte, bool, error)
	})
	if !ok {
		return s.FindCtx(ctx, token)
	}
	s.n.reads.Add(1)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	b, found, err := f.findFresh(ctx, token)
	return b, found, s.n.failed(err)
}

func (s boundStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	s.n.writes.Add(1)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.n.failed(s.inner.CommitCtx(ctx, token, b, expiry))
}

func (s boundStore) DeleteCtx(ctx context.Context, token string) error {
	s.n.writes.Add(1)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.n.failed(s.inner.DeleteCtx(ctx, token))
}

// Find, Commit and Delete complete scs.Store; scs calls the Ctx methods.
func (s boundStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

func (s boundStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

func (s boundStore) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }

// boundIndex bounds and counts every call to the index, and makes each
// error wrap ErrStore.
type boundIndex struct {
	inner   Index
	timeout time.Duration
	n       *counters
}

var _ Index = boundIndex{}

func (x boundIndex) call(ctx context.Context, write bool, f func(context.Context) error) error {
	if write {
		x.n.writes.Add(1)
	} else {
		x.n.reads.Add(1)
	}
	ctx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	if err := f(ctx); err != nil {
		x.n.errors.Add(1)
		if !errors.Is(err, ErrStore) {
			err = fmt.Errorf("%w: %w", ErrStore, err)
		}
		return err
	}
	return nil
}

func (x boundIndex) Add(ctx context.Context, key string, e IndexEntry) error {
	return x.call(ctx, true, func(ctx context.Context) error { return x.inner.Add(ctx, key, e) })
}

func (x boundIndex) Touch(ctx context.Context, key string, e IndexEntry) error {
	return x.call(ctx, true, func(ctx context.Context) error { return x.inner.Touch(ctx, key, e) })
}

func (x boundIndex) Remove(ctx context.Context, key string) error {
	return x.call(ctx, true, func(ctx context.Context) error { return x.inner.Remove(ctx, key) })
}

func (x boundIndex) Has(ctx context.Context, key string) (has bool, err error) {
	err = x.call(ctx, false, func(ctx context.Context) error {
		has, err = x.inner.Has(ctx, key)
		return err
	})
	return has, err
}

func (x boundIndex) Find(ctx context.Context, iss, sub, sid string) (keys []string, err error) {
	err = x.call(ctx, false, func(ctx context.Context) error {
		keys, err = x.inner.Find(ctx, iss, sub, sid)
		return err
	})
	return keys, err
}

func (x boundIndex) Delete(ctx context.Context, keys []string) (n int, err error) {
	err = x.call(ctx, true, func(ctx context.Context) error {
		n, err = x.inner.Delete(ctx, keys)
		return err
	})
	return n, err
}

func (x boundIndex) Claim(ctx context.Context, key string, expiry time.Time) (first bool, err error) {
	err = x.call(ctx, true, func(ctx context.Context) error {
		first, err = x.inner.Claim(ctx, key, expiry)
		return err
	})
	return first, err
}

func (x boundIndex) Release(ctx context.Context, key string) error {
	return x.call(ctx, true, func(ctx context.Context) error { return x.inner.Release(ctx, key) })
}

func (x boundIndex) DeleteExpired(ctx context.Context, now time.Time) error {
	return x.call(ctx, true, func(ctx context.Context) error { return x.inner.DeleteExpired(ctx, now) })
}
