package session

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/redis/go-redis/v9"
)

// LogRedisTo sends what go-redis logs by itself (its connection pool
// reports every failed dial there while Redis is down) to logger at WARN,
// instead of plain lines on stderr that bypass RP_LOG_FORMAT. go-redis
// keeps that logger per process, not per client: main calls this once,
// before opening the store.
// A nil logger puts back go-redis's default: plain lines on stderr (for
// tests, whose loggers end with them).
func LogRedisTo(logger *slog.Logger) {
	if logger == nil {
		redis.SetLogger(stderrRedisLogger{log.New(os.Stderr, "redis: ", log.LstdFlags|log.Lshortfile)})
		return
	}
	redis.SetLogger(redisLogger{logger})
}

// stderrRedisLogger is go-redis's default logger.
type stderrRedisLogger struct{ l *log.Logger }

func (s stderrRedisLogger) Printf(_ context.Context, format string, v ...any) {
	_ = s.l.Output(2, fmt.Sprintf(format, v...))
}

// redisLogger is go-redis's logging interface on top of slog.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
