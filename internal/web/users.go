package web

import (
	"sync"

	"github.com/rp-project/rp/internal/proxy"
	"github.com/rp-project/rp/internal/session"
)

// users keeps what the access rules and identity headers need, derived from
// a login's claims, by the claims' bytes: every proxied request needs it,
// and parsing the claims again each time was a fifth of rp's own work on
// that path. Keyed by content, an entry is never stale, only unused.
type users struct {
	mu sync.RWMutex
	m  map[string]proxy.User
}

const maxCachedUsers = 4096

// user returns the user of l. Its Groups are shared: never modify them.
func (s *Server) user(l session.Login) proxy.User {
	c := &s.users
	c.mu.RLock()
	u, ok := c.m[string(l.Claims)]
	c.mu.RUnlock()
	if ok && u.User == l.Subject {
		return u
	}
	u = proxy.UserFromClaims(l.Subject, l.Claims, s.groupsClaim)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedUsers {
		c.m = make(map[string]proxy.User)
	}
	c.m[string(l.Claims)] = u
	c.mu.Unlock()
	return u
}
