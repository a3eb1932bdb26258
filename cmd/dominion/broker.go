package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
)

// errNoData is returned for a command that only reads or changes existing jobs when the
// embedded broker's file does not exist: it is not created.
var errNoData = errors.New("no queue data")

// openExistingBroker is openBroker for commands that read or change existing jobs (info,
// jobs, queues, schedules list): with the embedded broker, a data directory without a queue
// file is an error naming the directory, rather than a new empty queue.
func (a *app) openExistingBroker(ctx context.Context) (queue.Broker, error) {
	if !a.cfg.UsesRedis() && store.SQLite {
		if _, err := os.Stat(a.cfg.QueueDBPath()); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w in %s (there is no %s): run the command where 'dominion serve' runs, or set %s to its data directory (or REDIS_URL)",
				errNoData, a.cfg.DataDir, config.QueueDBFile, config.EnvDataDir)
		}
	}
	return a.openBroker(ctx)
}

// openBroker opens the configured broker: Redis when REDIS_URL is set, else the embedded
// SQLite broker in the data directory (created when missing). Its errors never hold the Redis
// password.
func (a *app) openBroker(ctx context.Context) (queue.Broker, error) {
	b, err := service.OpenBroker(ctx, a.cfg, a.log)
	if err != nil {
		// The broker's error names the (redacted) URL; Redact is a second safety net.
		return nil, a.cfg.Redactor().Error(err)
	}
	return b, nil
}

// openServingBroker is openBroker for processes that run until stopped (worker, scheduler,
// dashboard): they start while Redis is down, and carry on when it is back.
func (a *app) openServingBroker(ctx context.Context) (queue.Broker, error) {
	b, err := service.OpenServingBroker(ctx, a.cfg, a.log)
	if err != nil {
		return nil, errors.New(a.cfg.Redact(err.Error()))
	}
	return b, nil
}

// serving opens the serving broker and the telemetry of a process of role (worker,
// dashboard) that runs until stopped, with the broker's statistics watched; closeAll stops
// the telemetry and closes the broker.
func (a *app) serving(ctx context.Context, role, metricsAddr string) (b queue.Broker, tel *service.Telemetry, closeAll func(), err error) {
	b, err = a.openServingBroker(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	closeBroker := func() {
		if err := b.Close(); err != nil {
			a.log.Warn("close broker", "err", a.cfg.Redact(err.Error()))
		}
	}
	tel, stop, err := a.telemetry(ctx, role, metricsAddr)
	if err != nil {
		closeBroker()
		return nil, nil, nil, err
	}
	tel.WatchStats(b, nil)
	return b, tel, func() { stop(); closeBroker() }, nil
}

// withClient opens the broker (which must hold data: openExistingBroker), calls fn with a
// client on it, and closes the broker. It returns fn's exit code, or exitFailure (with the
// error printed) when the broker does not open.
func (a *app) withClient(ctx context.Context, path string, fn func(c *queue.Client) int) int {
	return a.withBroker(ctx, path, a.openExistingBroker, fn)
}

// withBroker is withClient with the broker opened by open.
func (a *app) withBroker(ctx context.Context, path string, open func(context.Context) (queue.Broker, error), fn func(c *queue.Client) int) int {
	b, err := open(ctx)
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
