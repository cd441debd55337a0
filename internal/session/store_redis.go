package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/redis/go-redis/v9"
)

// defaultRedisPrefix starts every key rp writes to Redis; a
// "key_prefix" parameter in RP_SESSION_STORE replaces it, so several rp
// deployments (or tests) can share one Redis.
const defaultRedisPrefix = "rp:"

// openRedis returns a Redis backend. go-redis connects lazily and
// reconnects by itself: a server that is down gives ErrStore until it is
// back.
func openRedis(o backendOptions) (*backend, error) {
	u, err := url.Parse(o.spec)
	if err != nil {
		return nil, errors.New("session: RP_SESSION_STORE is not a Redis URL")
	}
	prefix := defaultRedisPrefix
	if q := u.Query(); q.Has("key_prefix") {
		prefix = q.Get("key_prefix")
		q.Del("key_prefix")
		u.RawQuery = q.Encode()
	}
	opts, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("session: RP_SESSION_STORE is not a Redis URL go-redis accepts: %w", err)
	}
	if o.password != "" {
		opts.Password = o.password
	}
	opts.DialTimeout = o.timeout
	opts.ReadTimeout = o.timeout
	opts.WriteTimeout = o.timeout
	opts.ContextTimeoutEnabled = true
	opts.DisableIdentity = true // CLIENT SETINFO is Redis 7.2+; rp needs 7.0
	if host, _, _ := net.SplitHostPort(opts.Addr); !loopback(host) {
		switch {
		case opts.TLSConfig == nil:
			o.log.Warn("the Redis session store is reached without TLS; sessions hold tokens: use rediss://", "addr", opts.Addr)
		case opts.TLSConfig.InsecureSkipVerify:
			o.log.Warn("the Redis session store's certificate is not verified (skip_verify): drop it", "addr", opts.Addr)
		}
	}
	c := redis.NewClient(opts)
	return &backend{
		store: redisStore{RedisStore: goredisstore.NewWithPrefix(c, prefix+"s:"), c: c, prefix: prefix + "s:"},
		index: redisIndex{c: c, p: prefix},
		ping:  func(ctx context.Context) error { return c.Ping(ctx).Err() },
		close: c.Close,
	}, nil
}

// redisStore is scs's goredisstore, with its CommitCtx replaced: saves of
// loaded sessions are update-only (SET ... XX), expiries are absolute and
// in milliseconds (PXAT), and a session whose deadline has passed is not
// written (goredisstore would store it with no expiry at all: go-redis
// drops a negative TTL).
type redisStore struct {
	*goredisstore.RedisStore
	c      *redis.Client
	prefix string
}

// Find, Commit and Delete complete scs.Store with the same rules as the
// context-taking methods scs calls (goredisstore's panic).
func (s redisStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

func (s redisStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

func (s redisStore) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }

// CommitCtx saves a session; a loaded session is only updated.
func (s redisStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if !expiry.After(time.Now()) {
		if err := s.DeleteCtx(ctx, token); err != nil {
			return err
		}
		return errSessionGone
	}
	args := []any{"SET", s.prefix + token, b, "PXAT", expiry.UnixMilli()}
	if updateOnly(ctx) {
		args = append(args, "XX")
	}
	err := s.c.Do(ctx, args...).Err()
	if errors.Is(err, redis.Nil) {
		return errSessionGone
	}
	return err
}
