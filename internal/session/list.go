package session

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// SessionInfo describes one of a user's sessions, for the page that lists
// them. It holds nothing that would let anyone use the session.
type SessionInfo struct {
	ID         string // opaque, stable, derived from the store key; not the key
	Browser    string
	SignedInAt time.Time
	LastSeen   time.Time // to within TouchEvery
	Current    bool      // the session of the request that asked
}

// maxListed bounds how many sessions one listing reads.
const maxListed = 100

// Sessions lists the live sessions of the signed-in user of ctx (same
// issuer and subject), newest use first, the current one marked. Sessions
// of anyone else are never read: the index is searched by the user's own
// (iss, sub), and each session found must hold that identity too.
func (m *Manager) Sessions(ctx context.Context) ([]SessionInfo, error) {
	l, ok := m.Login(ctx)
	if !ok {
		return nil, nil
	}
	keys, err := m.index.Find(ctx, l.Issuer, l.Subject, "")
	if err != nil {
		return nil, err
	}
	if len(keys) > maxListed {
		keys = keys[:maxListed]
	}
	current := storeKey(m.scs.Token(ctx))
	list := make([]SessionInfo, 0, len(keys))
	for _, key := range keys {
		info, ok, err := m.describe(ctx, key, l)
		if err != nil {
			return nil, err
		}
		if ok {
			info.Current = key == current
			list = append(list, info)
		}
	}
	slices.SortFunc(list, func(a, b SessionInfo) int {
		return cmp.Or(b.LastSeen.Compare(a.LastSeen), b.SignedInAt.Compare(a.SignedInAt))
	})
	return list, nil
}

// describe reads the session stored under key; ok is false when it has
// ended or expired, or does not belong to owner.
func (m *Manager) describe(ctx context.Context, key string, owner Login) (SessionInfo, bool, error) {
	b, found, err := m.store.FindCtx(ctx, key)
	if err != nil {
		return SessionInfo{}, false, fmt.Errorf("%w: reading a session: %w", ErrStore, err)
	}
	if !found {
		return SessionInfo{}, false, nil
	}
	_, values, err := m.scs.Codec.Decode(b)
	if err != nil {
		m.log.Warn("a stored session could not be decoded; not listed", "err", err)
		return SessionInfo{}, false, nil
	}
	raw, _ := values[keyLogin].([]byte)
	var l Login
	if json.Unmarshal(raw, &l) != nil || l.Issuer != owner.Issuer || l.Subject != owner.Subject {
		return SessionInfo{}, false, nil
	}
	seen, _ := values[keySeen].(int64)
	return SessionInfo{ID: listID(key), Browser: l.Browser, SignedInAt: l.SignedInAt, LastSeen: time.Unix(seen, 0)}, true, nil
}

// listID names a session on the page without showing its store key.
func listID(key string) string {
	h := sha256.Sum256([]byte("rp session list\x00" + key))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

// EndSession ends the signed-in user's session named id (a SessionInfo.ID),
// if it is one of theirs and not the current one (that one ends through
// logout). It reports whether it ended one.
func (m *Manager) EndSession(ctx context.Context, id string) (bool, error) {
	l, ok := m.Login(ctx)
	if !ok || id == "" {
		return false, nil
	}
	keys, err := m.index.Find(ctx, l.Issuer, l.Subject, "")
	if err != nil {
		return false, err
	}
	current := storeKey(m.scs.Token(ctx))
	for _, key := range keys {
		if key != current && listID(key) == id {
			n, err := m.index.Delete(ctx, []string{key})
			return n > 0, err
		}
	}
	return false, nil
}
