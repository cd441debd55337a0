package session

import (
	"context"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
)

// A local store (the memory store, or a SQLite file this process holds
// the lock of) is written only through this process, so what it returns
// can be kept in memory and given again without a query: every write and
// every delete through rp drops the entry first. Entries also live at most
// cacheTTL, which bounds how late a write by anything else (another
// process that did not get the file's lock) shows, and the cache holds at
// most maxCachedBytes. The cache is what makes
// a signed-in request on SQLite cost a map lookup rather than a query.
const cacheTTL = time.Second

// maxCachedBytes bounds the cache's memory (a session is a few kilobytes:
// some ten thousand sessions). When full, expired entries are dropped,
// then others; a miss costs a query.
const maxCachedBytes = 32 << 20

type readCache struct {
	mu    sync.RWMutex
	gen   uint64 // moves on every invalidation
	m     map[string]cachedValue
	bytes int // of the cached values and keys
	now   func() time.Time
}

type cachedValue struct {
	b     []byte // shared: never modified
	until time.Time
}

func newReadCache() *readCache {
	return &readCache{m: make(map[string]cachedValue), now: time.Now}
}

// get returns key's value when cached and fresh; gen is the generation to
// pass to put after reading the store on a miss.
func (c *readCache) get(key string) (b []byte, ok bool, gen uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[key]
	if ok && c.now().Before(v.until) {
		return v.b, true, c.gen
	}
	return nil, false, c.gen
}

// put caches what the store returned, unless anything was invalidated
// since gen: the value may then predate a write or a delete.
func (c *readCache) put(key string, b []byte, expiry time.Time, gen uint64) {
	until := c.now().Add(cacheTTL)
	if expiry.Before(until) {
		until = expiry
	}
	size := len(key) + len(b)
	if size > maxCachedBytes/64 {
		return // not worth the room
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.bytes+size > maxCachedBytes {
		c.makeRoom(size)
	}
	c.remove(key)
	c.m[key] = cachedValue{b: b, until: until}
	c.bytes += size
}

// makeRoom drops expired entries, then any, until size more bytes fit.
// Called with the lock held; expired entries are never served, so this is
// the only cleanup the cache needs to stay within its bound.
func (c *readCache) makeRoom(size int) {
	now := c.now()
	for k, v := range c.m {
		if !now.Before(v.until) {
			c.remove(k)
		}
	}
	for k := range c.m {
		if c.bytes+size <= maxCachedBytes {
			return
		}
		c.remove(k)
	}
}

func (c *readCache) remove(key string) {
	if v, ok := c.m[key]; ok {
		c.bytes -= len(key) + len(v.b)
		delete(c.m, key)
	}
}

// invalidate forgets keys, and makes puts of values read before now fail.
func (c *readCache) invalidate(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		c.remove(k)
	}
}

// expiringFinder is a store that can say when what it finds expires.
type expiringFinder interface {
	findExpiring(ctx context.Context, key string) (b []byte, expiry time.Time, found bool, err error)
}

// cachedStore is a local store read through a readCache. Writes and
// deletes go to the store first, then drop the entry.
type cachedStore struct {
	scs.CtxStore
	find  expiringFinder
	cache *readCache
}

func (s cachedStore) FindCtx(ctx context.Context, key string) ([]byte, bool, error) {
	b, ok, gen := s.cache.get(key)
	if ok {
		return b, true, nil
	}
	b, expiry, found, err := s.find.findExpiring(ctx, key)
	if err != nil || !found {
		return nil, false, err
	}
	s.cache.put(key, b, expiry, gen)
	return b, true, nil
}

// findFresh reads the store itself, past the cache: for what must never
// be even a second old (a session's tokens under its refresh lock).
func (s cachedStore) findFresh(ctx context.Context, key string) ([]byte, bool, error) {
	b, _, found, err := s.find.findExpiring(ctx, key)
	return b, found, err
}

func (s cachedStore) CommitCtx(ctx context.Context, key string, b []byte, expiry time.Time) error {
	defer s.cache.invalidate(key)
	return s.CtxStore.CommitCtx(ctx, key, b, expiry)
}

func (s cachedStore) DeleteCtx(ctx context.Context, key string) error {
	defer s.cache.invalidate(key)
	return s.CtxStore.DeleteCtx(ctx, key)
}

// cachedIndex drops the cached sessions (and their tokens) an index
// deletes.
type cachedIndex struct {
	Index
	cache *readCache
}

func (x cachedIndex) Delete(ctx context.Context, keys []string) (int, error) {
	defer func() {
		all := make([]string, 0, 2*len(keys))
		for _, k := range keys {
			all = append(all, k, tokenKey(k))
		}
		x.cache.invalidate(all...)
	}()
	return x.Index.Delete(ctx, keys)
}
