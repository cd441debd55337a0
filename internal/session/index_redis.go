package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisIndex keeps the index in Redis beside the sessions (prefix p):
//
//	p+"s:"+key            the session (scs's goredisstore)
//	p+"e:"+key            its index entry (iss, sub, sid), expiring with it
//	p+"sid:"+h(iss, sid)  sorted set of keys, scored by expiry in ms
//	p+"sub:"+h(iss, sub)  the same by subject
//	p+"once:"+key         single-use claims, expiring by themselves
//
// Every operation is a fixed number of round trips whatever the number of
// sessions stored. Sorted sets drop their expired members whenever a
// member is added, and expire themselves with their last member. It needs
// Redis 7.0 or later (PEXPIREAT NX/GT) and a single Redis (not Cluster:
// one session's keys are updated in one MULTI).
type redisIndex struct {
	c *redis.Client
	p string
}

type redisEntry struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
	SID     string `json:"sid,omitempty"`
}

func (x redisIndex) entryKey(key string) string   { return x.p + "e:" + key }
func (x redisIndex) sessionKey(key string) string { return x.p + "s:" + key }

// sets returns the sorted sets an entry belongs to.
func (x redisIndex) sets(e redisEntry) []string {
	sets := []string{x.p + "sub:" + digest(e.Issuer, e.Subject)}
	if e.SID != "" {
		sets = append(sets, x.p+"sid:"+digest(e.Issuer, e.SID))
	}
	return sets
}

// digest keeps provider-chosen values out of key names: fixed length, no
// separators to confuse.
func digest(iss, v string) string {
	h := sha256.Sum256([]byte(iss + "\x00" + v))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func (x redisIndex) Add(ctx context.Context, key string, e IndexEntry) error {
	re := redisEntry{Issuer: e.Issuer, Subject: e.Subject, SID: e.SID}
	val, err := json.Marshal(re)
	if err != nil {
		return fmt.Errorf("encoding an index entry: %w", err)
	}
	exp, now := ms(e.Expiry), ms(time.Now())
	_, err = x.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "SET", x.entryKey(key), val, "PXAT", exp)
		for _, set := range x.sets(re) {
			p.ZAdd(ctx, set, redis.Z{Score: float64(e.Expiry.UnixMilli()), Member: key})
			p.ZRemRangeByScore(ctx, set, "-inf", now)
			p.Do(ctx, "PEXPIREAT", set, exp, "NX")
			p.Do(ctx, "PEXPIREAT", set, exp, "GT")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("indexing a session: %w", err)
	}
	return nil
}

func (x redisIndex) Touch(ctx context.Context, key string, e IndexEntry) error {
	re := redisEntry{Issuer: e.Issuer, Subject: e.Subject, SID: e.SID}
	exp := ms(e.Expiry)
	_, err := x.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "PEXPIREAT", x.entryKey(key), exp, "GT")
		for _, set := range x.sets(re) {
			p.ZAddArgs(ctx, set, redis.ZAddArgs{XX: true, GT: true, Members: []redis.Z{{Score: float64(e.Expiry.UnixMilli()), Member: key}}})
			p.Do(ctx, "PEXPIREAT", set, exp, "GT")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("extending an index entry: %w", err)
	}
	return nil
}

// entries reads the index entries of keys; a missing one is zero.
func (x redisIndex) entries(ctx context.Context, keys []string) ([]redisEntry, error) {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = x.entryKey(k)
	}
	vals, err := x.c.MGet(ctx, names...).Result()
	if err != nil {
		return nil, fmt.Errorf("reading index entries: %w", err)
	}
	out := make([]redisEntry, len(keys))
	for i, v := range vals {
		if s, ok := v.(string); ok {
			_ = json.Unmarshal([]byte(s), &out[i]) // a broken entry only loses its set memberships
		}
	}
	return out, nil
}

func (x redisIndex) Remove(ctx context.Context, key string) error {
	es, err := x.entries(ctx, []string{key})
	if err != nil {
		return err
	}
	_, err = x.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, x.entryKey(key))
		if es[0].Issuer != "" {
			for _, set := range x.sets(es[0]) {
				p.ZRem(ctx, set, key)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("removing an index entry: %w", err)
	}
	return nil
}

func (x redisIndex) Has(ctx context.Context, key string) (bool, error) {
	n, err := x.c.Exists(ctx, x.entryKey(key)).Result()
	if err != nil {
		return false, fmt.Errorf("reading the index: %w", err)
	}
	return n == 1, nil
}

func (x redisIndex) Find(ctx context.Context, iss, sub, sid string) ([]string, error) {
	live := &redis.ZRangeBy{Min: "(" + ms(time.Now()), Max: "+inf"}
	var set string
	switch {
	case sid != "":
		set = x.p + "sid:" + digest(iss, sid)
	case sub != "":
		set = x.p + "sub:" + digest(iss, sub)
	default:
		return nil, nil
	}
	keys, err := x.c.ZRangeByScore(ctx, set, live).Result()
	if err != nil {
		return nil, fmt.Errorf("searching the index: %w", err)
	}
	if sid == "" || sub == "" || len(keys) == 0 {
		return keys, nil
	}
	// Both: keep the sid's sessions that are also the sub's.
	scores, err := x.c.ZMScore(ctx, x.p+"sub:"+digest(iss, sub), keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("searching the index: %w", err)
	}
	both := keys[:0]
	for i, k := range keys {
		if scores[i] != 0 { // scores are expiries in ms; 0 means not a member
			both = append(both, k)
		}
	}
	return both, nil
}

func (x redisIndex) Delete(ctx context.Context, keys []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	es, err := x.entries(ctx, keys)
	if err != nil {
		return 0, err
	}
	var deleted *redis.IntCmd
	_, err = x.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		sessions := make([]string, len(keys))
		entries := make([]string, 2*len(keys))
		for i, k := range keys {
			sessions[i], entries[i] = x.sessionKey(k), x.entryKey(k)
			entries[len(keys)+i] = x.sessionKey(tokenKey(k))
		}
		deleted = p.Del(ctx, sessions...)
		p.Del(ctx, entries...)
		for i, e := range es {
			if e.Issuer == "" {
				continue
			}
			for _, set := range x.sets(e) {
				p.ZRem(ctx, set, keys[i])
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ending sessions: %w", err)
	}
	return int(deleted.Val()), nil
}

func (x redisIndex) Claim(ctx context.Context, key string, expiry time.Time) (bool, error) {
	if min := time.Now().Add(time.Second); expiry.Before(min) {
		expiry = min
	}
	err := x.c.Do(ctx, "SET", x.p+"once:"+key, "1", "NX", "PXAT", ms(expiry)).Err()
	switch {
	case errors.Is(err, redis.Nil):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("claiming a single-use value: %w", err)
	}
	return true, nil
}

func (x redisIndex) Release(ctx context.Context, key string) error {
	if err := x.c.Del(ctx, x.p+"once:"+key).Err(); err != nil {
		return fmt.Errorf("releasing a single-use value: %w", err)
	}
	return nil
}

// DeleteExpired has nothing to do: Redis expires keys by itself, and sorted
// sets drop expired members when a member is added.
func (x redisIndex) DeleteExpired(context.Context, time.Time) error { return nil }
