package session

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadCacheNeverKeepsWhatAWriteReplaced: a value read before an
// invalidation is not cached, so a logout is never undone by a read that
// raced it.
func TestReadCacheNeverKeepsWhatAWriteReplaced(t *testing.T) {
	c := newReadCache()
	_, ok, gen := c.get("k")
	if ok {
		t.Fatal("hit in an empty cache")
	}
	c.invalidate("k") // a logout lands between the read and the put
	c.put("k", []byte("before the logout"), time.Now().Add(time.Hour), gen)
	if _, ok, _ := c.get("k"); ok {
		t.Fatal("a value read before a delete was cached")
	}
	_, _, gen = c.get("k")
	c.put("k", []byte("v"), time.Now().Add(time.Hour), gen)
	if b, ok, _ := c.get("k"); !ok || string(b) != "v" {
		t.Fatal("a fresh read was not cached")
	}
	// Entries live at most cacheTTL, and never past the session's expiry.
	now := time.Now()
	c.now = func() time.Time { return now.Add(cacheTTL) }
	if _, ok, _ := c.get("k"); ok {
		t.Fatal("an entry outlived cacheTTL")
	}
	c.now = time.Now
	_, _, gen = c.get("e")
	c.put("e", []byte("v"), time.Now().Add(-time.Millisecond), gen)
	if _, ok, _ := c.get("e"); ok {
		t.Fatal("an expired session was served from the cache")
	}
}

// TestSecondProcessOnOneSQLiteFileIsNotCached: rp caches a SQLite file's
// sessions only while it holds the file's lock; another Manager (a second
// process) reads the file every time, and says why.
func TestSecondProcessOnOneSQLiteFileIsNotCached(t *testing.T) {
	spec := "sqlite:" + filepath.Join(t.TempDir(), "s.db")
	a, err := Open(context.Background(), Options{Store: spec, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var logs bytes.Buffer
	b, err := Open(context.Background(), Options{Store: spec, Lifetime: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok := a.backend.store.(cachedStore); !ok {
		t.Fatal("the first process does not cache its SQLite file")
	}
	if _, ok := b.backend.store.(cachedStore); ok {
		t.Fatal("a second process on the same file caches it")
	}
	if !strings.Contains(logs.String(), "another process") {
		t.Fatalf("no warning: %s", logs.String())
	}
	// A logout through the first is seen by the second at once, and one
	// through the second by the first within cacheTTL.
	c := signIn(t, a, Login{Issuer: "https://op", Subject: "alice", SID: "s1"})
	if !loggedIn(t, b, c) || !loggedIn(t, a, c) {
		t.Fatal("not signed in")
	}
	if n, err := b.EndSessions(context.Background(), "https://op", "", "s1"); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	time.Sleep(cacheTTL)
	if loggedIn(t, a, c) {
		t.Fatal("a logout by another process on the file is not seen after cacheTTL")
	}
}

// TestReadCacheStaysWithinItsBound: anonymous visitors cannot make the
// cache hold more than maxCachedBytes, and expired entries make room first.
func TestReadCacheStaysWithinItsBound(t *testing.T) {
	c := newReadCache()
	now := time.Now()
	c.now = func() time.Time { return now } // nothing expires while it fills, however slow (-race)
	value := make([]byte, 10<<10)
	for i := range 2 * maxCachedBytes / len(value) {
		key := fmt.Sprintf("k%d", i)
		_, _, gen := c.get(key)
		c.put(key, value, time.Now().Add(time.Hour), gen)
	}
	if c.bytes > maxCachedBytes || len(c.m)*len(value) > maxCachedBytes {
		t.Fatalf("cache holds %d bytes in %d entries, bound %d", c.bytes, len(c.m), maxCachedBytes)
	}
	// Expired entries go first.
	c.now = func() time.Time { return now.Add(2 * cacheTTL) }
	_, _, gen := c.get("fresh")
	c.put("fresh", value, now.Add(time.Hour), gen)
	if len(c.m) != 1 {
		t.Fatalf("%d entries after expiry made room; want only the fresh one", len(c.m))
	}
}
