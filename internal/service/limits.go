package service

import (
	"context"
	"log/slog"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// limitsRetry is how often ApplyLimits tries again while the broker is unreachable.
const limitsRetry = 2 * time.Second

// ApplyLimits stores the limits of the queues file (config.QueueLimits) in the broker, so that
// every worker applies them. A serving process starts while the broker is unreachable, so a
// failure is logged once and the limits are tried again in the background until they are
// stored or ctx ends.
func ApplyLimits(ctx context.Context, c *queue.Client, limits map[string]queue.QueueLimits, log *slog.Logger) {
	if len(limits) == 0 {
		return
	}
	apply := func() error {
		for q, l := range limits {
			if err := c.SetLimits(ctx, q, l); err != nil {
				return err
			}
			log.Info("queue limits set", "queue", q, "limits", l.String())
		}
		return nil
	}
	err := apply()
	if err == nil {
		return
	}
	log.Warn("queue limits not stored yet: trying again in the background", "err", err)
	go func() {
		t := time.NewTicker(limitsRetry)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if apply() == nil {
					return
				}
			}
		}
	}()
}
