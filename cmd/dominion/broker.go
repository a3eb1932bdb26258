package main

import (
	"context"
	"errors"

	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/queue"
)

// openBroker opens the configured broker: Redis when REDIS_URL is set, else the embedded
// SQLite broker in the data directory (created when missing). Its errors never hold the Redis
// password.
func (a *app) openBroker(ctx context.Context) (queue.Broker, error) {
	b, err := service.OpenBroker(ctx, a.cfg, a.log)
	if err != nil {
		// The broker's error names the (redacted) URL; Redact is a second safety net.
		return nil, errors.New(a.cfg.Redact(err.Error()))
	}
	return b, nil
}

// withClient opens the broker, calls fn with a client on it, and closes the broker. It
// returns fn's exit code, or exitFailure (with the error printed) when the broker does not
// open.
func (a *app) withClient(ctx context.Context, path string, fn func(c *queue.Client) int) int {
	b, err := a.openBroker(ctx)
	if err != nil {
		return a.runtimeError(path, err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			a.log.Warn("close broker", "err", a.cfg.Redact(err.Error()))
		}
	}()
	return fn(queue.NewClient(b))
}
