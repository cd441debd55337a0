package oidc

import (
	"crypto/sha256"
	"strconv"
	"time"
)

// kidMemory remembers, for at most max kids, when a fetch of the key set
// showed each absent. Kids are kept as hashes, so a kid of any length
// costs the same; when full, the kid remembered first is forgotten, which
// at worst lets it cost one more fetch, within its use's allowance.
type kidMemory struct {
	at    map[[sha256.Size]byte]time.Time
	order [][sha256.Size]byte // a ring, oldest at head
	head  int
}

func newKidMemory(max int) *kidMemory {
	return &kidMemory{at: make(map[[sha256.Size]byte]time.Time, max), order: make([][sha256.Size]byte, 0, max)}
}

func (m *kidMemory) remember(kid string, at time.Time) {
	h := sha256.Sum256([]byte(kid))
	if _, ok := m.at[h]; ok {
		m.at[h] = at
		return
	}
	if len(m.order) < cap(m.order) {
		m.order = append(m.order, h)
	} else {
		delete(m.at, m.order[m.head])
		m.order[m.head] = h
		m.head = (m.head + 1) % len(m.order)
	}
	m.at[h] = at
}

// lookup returns when kid was last shown absent, if it is remembered.
func (m *kidMemory) lookup(kid string) (time.Time, bool) {
	at, ok := m.at[sha256.Sum256([]byte(kid))]
	return at, ok
}

func (m *kidMemory) len() int { return len(m.at) }

// quoteKid quotes a kid for an error message, cut to a sane length: a
// forged token's kid can be kilobytes long.
func quoteKid(kid string) string {
	const max = 64
	if len(kid) > max {
		return strconv.Quote(kid[:max]) + "…"
	}
	return strconv.Quote(kid)
}
