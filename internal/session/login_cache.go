package session

import "sync"

// loginCache keeps decoded logins by their encoded bytes, so that the
// requests of a signed-in user decode the login once, not on every
// request. It is keyed by content: a changed login is a new entry, and an
// entry is never wrong, only unused. Entries are shared and never modified.
type loginCache struct {
	mu sync.RWMutex
	m  map[string]*Login
}

// maxCachedLogins bounds the cache (a login is a few kilobytes); when full
// it starts again empty, which costs a decode per active user.
const maxCachedLogins = 4096

func (c *loginCache) get(b []byte) (*Login, bool) {
	c.mu.RLock()
	l, ok := c.m[string(b)] // no allocation for the lookup
	c.mu.RUnlock()
	return l, ok
}

func (c *loginCache) put(b []byte, l *Login) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedLogins {
		c.m = make(map[string]*Login)
	}
	c.m[string(b)] = l
}
