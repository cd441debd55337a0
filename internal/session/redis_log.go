package session

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// LogRedisTo sends what go-redis logs by itself (its connection pool
// reports every failed dial there while Redis is down) to logger at WARN,
// instead of plain lines on stderr that bypass RP_LOG_FORMAT. go-redis
// keeps that logger per process, not per client: main calls this once,
// before opening the store.
func LogRedisTo(logger *slog.Logger) {
	redis.SetLogger(redisLogger{logger})
}

// redisLogger is go-redis's logging interface on top of slog.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
