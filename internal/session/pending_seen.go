package session

import (
	"crypto/sha256"
	"sync"
	"time"
)

// maxSeenStates bounds the states an instance remembers having taken
// (about 80 bytes each).
const maxSeenStates = 1 << 16

// seenStates remembers, on one instance, the states of sign-ins already
// presented at /callback, until they expire. The browser is told to delete
// a sign-in's cookie, but whoever copied it can send it again: without
// this, each copy would make rp redeem a (forged) code at the provider,
// and the store is not asked before the provider has signed someone in.
// Only cookies rp sealed get here, so an entry costs a /login; when full,
// the oldest is forgotten. Several instances each remember their own.
type seenStates struct {
	mu    sync.Mutex
	until map[[16]byte]time.Time
	order [][16]byte // oldest first
}

// first records state as taken until expiry and reports whether it was
// not taken before.
func (s *seenStates) first(state string, now, expiry time.Time) bool {
	sum := sha256.Sum256([]byte(state))
	var k [16]byte
	copy(k[:], sum[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.until == nil {
		s.until = make(map[[16]byte]time.Time)
	}
	for len(s.order) > 0 && (len(s.order) >= maxSeenStates || !s.until[s.order[0]].After(now)) {
		delete(s.until, s.order[0])
		s.order = s.order[1:]
	}
	if until, ok := s.until[k]; ok && until.After(now) {
		return false
	}
	s.until[k] = expiry
	s.order = append(s.order, k)
	return true
}
