package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// redisClientLog receives the messages the go-redis client prints on its own (by default to
// stderr, outside of slog): while Redis is unreachable it prints one per failed dial, which
// the broker's own warnings already cover. They become debug records of our logger.
type redisClientLog struct{ log *slog.Logger }

func (l redisClientLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// routeRedisClientLog sends go-redis's own messages to log. It sets a process-wide variable
// of go-redis, so only main calls it, once, before any client exists.
func routeRedisClientLog(log *slog.Logger) { redis.SetLogger(redisClientLog{log}) }
