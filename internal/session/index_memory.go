package session

import (
	"context"
	"sync"
	"time"
)

// memoryIndex is the Index of the memory store: one process only.
type memoryIndex struct {
	mu      sync.Mutex
	entries map[string]IndexEntry
}

func newMemoryIndex() *memoryIndex { return &memoryIndex{entries: make(map[string]IndexEntry)} }

func (m *memoryIndex) Add(_ context.Context, key string, e IndexEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[key] = e
	return nil
}

func (m *memoryIndex) Remove(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
	return nil
}

func (m *memoryIndex) Find(_ context.Context, iss, sub, sid string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k, e := range m.entries {
		if matches(e, iss, sub, sid) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func matches(e IndexEntry, iss, sub, sid string) bool {
	if e.Issuer != iss || (sid == "" && sub == "") {
		return false
	}
	return (sid == "" || e.SID == sid) && (sub == "" || e.Subject == sub)
}

func (m *memoryIndex) DeleteExpired(_ context.Context, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, e := range m.entries {
		if !e.Expiry.After(now) {
			delete(m.entries, k)
		}
	}
	return nil
}
