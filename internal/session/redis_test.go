package session

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rp-project/rp/internal/session/sessiontest"
)

// TestRedisKeysAllExpire: nothing rp writes to Redis lives forever, and
// nothing outlives its session by more than the index's grace.
func TestRedisKeysAllExpire(t *testing.T) {
	spec := sessiontest.Redis(t)
	m, err := Open(context.Background(), Options{Store: spec, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := signIn(t, m, Login{Issuer: "https://ttl.example", Subject: "alice", SID: "s1"})
	if first, err := m.Claim(context.Background(), "jti", "j1", time.Now().Add(time.Minute)); err != nil || !first {
		t.Fatal(first, err)
	}
	if !loggedIn(t, m, c) {
		t.Fatal("not signed in")
	}

	u, _ := url.Parse(spec)
	prefix := u.Query().Get("key_prefix")
	opts, _ := redis.ParseURL(sessiontest.RedisURL())
	rc := redis.NewClient(opts)
	defer rc.Close()
	ctx := context.Background()
	keys, err := rc.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 { // session, entry, sid set, sub set, claim
		t.Fatalf("keys: %v", keys)
	}
	for _, k := range keys {
		ttl, err := rc.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > time.Hour+indexGrace {
			t.Errorf("%s has TTL %v", k, ttl)
		}
	}
}
