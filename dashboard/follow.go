package dashboard

import (
	"context"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// EventSource is a QueueSource that also streams jobs' events (*queue.Client is one). With
// it, an open job page shows each change (state, progress) as its event arrives; without it,
// or while the subscription fails, at the next tick of the poller.
type EventSource interface {
	Subscribe(ctx context.Context, filter queue.EventFilter) (*queue.Subscription, error)
}

// retrySubscribe is how long the hub waits before subscribing again after a failure.
const retrySubscribe = 10 * time.Second

// follow subscribes to the events of the queues of the open job pages while there are some
// (events cost the brokers something only while someone subscribes), and ends the
// subscription when the last closes or their queues change. Called by the poller only.
func (h *hub) follow(watched map[string][]*subscriber) {
	src, ok := h.d.cfg.Queues.(EventSource)
	if !ok {
		return
	}
	jobs := false
	for key := range watched {
		jobs = jobs || strings.HasPrefix(key, "job:")
	}
	switch {
	case !jobs && h.unfollow != nil:
		h.unfollow()
		h.unfollow = nil
	case jobs && h.unfollow == nil && time.Since(h.followFailed) >= retrySubscribe:
		ctx, cancel := context.WithCancel(context.Background())
		sub, err := src.Subscribe(ctx, queue.EventFilter{})
		if err != nil {
			cancel()
			h.followFailed = time.Now()
			h.d.log.Warn("dashboard: subscribe to job events; job pages follow the poller", "err", h.d.redact(err.Error()))
			return
		}
		h.unfollow = cancel
		go h.nudgeOnEvents(sub)
	}
}

// nudgeOnEvents wakes the poller to refresh the open pages of the jobs that have an event.
func (h *hub) nudgeOnEvents(sub *queue.Subscription) {
	for ev := range sub.Events() {
		if h.isWatched("job:" + ev.JobID) {
			select {
			case h.nudge <- struct{}{}:
			default:
			}
		}
	}
}

// isWatched reports whether a page shows the item key.
func (h *hub) isWatched(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.watch == key {
			return true
		}
	}
	return false
}

// watchedItems returns the open pages of jobs and workflows, by item.
func (h *hub) watchedItems() map[string][]*subscriber {
	h.mu.Lock()
	defer h.mu.Unlock()
	watched := map[string][]*subscriber{}
	for sub := range h.subs {
		if sub.watch != "" && (len(watched) < maxWatched || watched[sub.watch] != nil) {
			watched[sub.watch] = append(watched[sub.watch], sub)
		}
	}
	return watched
}
