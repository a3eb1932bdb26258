package dashboard

import (
	"context"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// EventSource is a QueueSource that also streams jobs' events (*queue.Client is one). With
// it, the live pages are refreshed when jobs change (at most every minUpdateGap), and an open
// job page shows each change (state, progress) as its event arrives; without it, or while the
// subscription fails, at the next periodic refresh (Config.Interval).
type EventSource interface {
	Subscribe(ctx context.Context, filter queue.EventFilter) (*queue.Subscription, error)
}

// retrySubscribe is how long the hub waits before subscribing again after a failure.
const retrySubscribe = 10 * time.Second

// Under a load of more than busyEvents events a second, the events cost more than they are
// worth (the broker records each transition for the subscriber, and the pages would change at
// the most every minUpdateGap anyway): the hub ends its subscription, samples every busyPoll
// instead, and subscribes again busyHold later to see whether the load has dropped.
const (
	busyEvents = 500
	busyPoll   = time.Second
	busyHold   = 30 * time.Second
)

// The modes of the live pages, as a sample tells them (sample.Mode).
const (
	modeEvents  = "events"  // job events wake the poller
	modeBusy    = "busy"    // too many events: the poller samples every busyPoll
	modeRefresh = "refresh" // no event stream: the poller samples every Config.Interval
)

// mode says what drives the samples now. Called by the poller only.
func (h *hub) mode(now time.Time) string {
	switch {
	case h.unfollow != nil:
		return modeEvents
	case now.Before(h.busyUntil):
		return modeBusy
	}
	return modeRefresh
}

// follow holds one subscription to the events of every queue while on (someone watches a
// live page), however many pages are open, and ends it when off (events cost the brokers
// something only while someone subscribes). A subscription that failed or ended is tried
// again retrySubscribe later. Called by the poller only.
func (h *hub) follow(on bool) {
	src, ok := h.d.cfg.Queues.(EventSource)
	if !ok {
		return
	}
	h.mu.Lock()
	lost, busy := h.lost, h.busy
	h.lost, h.busy = false, false
	h.mu.Unlock()
	now := time.Now()
	if busy && h.unfollow != nil {
		h.unfollow()
		h.unfollow = nil
		h.busyUntil = now.Add(busyHold)
		h.d.log.Debug("dashboard: more job events than the pages can show; sampling every second instead", "for", busyHold)
	}
	if lost && h.unfollow != nil {
		h.unfollow()
		h.unfollow = nil
		h.followFailed = time.Now()
		h.d.log.Warn("dashboard: the job event stream ended; the live pages refresh every interval until it is back",
			"interval", h.interval)
	}
	switch {
	case !on && h.unfollow != nil:
		h.unfollow()
		h.unfollow = nil
	case on && h.unfollow == nil && now.Sub(h.followFailed) >= retrySubscribe && !now.Before(h.busyUntil):
		ctx, cancel := context.WithCancel(context.Background())
		sub, err := src.Subscribe(ctx, queue.EventFilter{})
		if err != nil {
			cancel()
			h.followFailed = time.Now()
			h.d.log.Warn("dashboard: subscribe to job events; the live pages refresh every interval",
				"interval", h.interval, "err", h.d.redact(err.Error()))
			return
		}
		h.unfollow = cancel
		go h.onEvents(ctx, sub)
	}
}

// onEvents tells the poller that jobs changed, and wakes it to refresh the open pages of the
// jobs that have an event. When the subscription ends by itself (the broker failed), or more
// than busyEvents arrive within a second, it says so to the poller.
func (h *hub) onEvents(ctx context.Context, sub *queue.Subscription) {
	window, n := time.Now(), 0
	for ev := range sub.Events() {
		if n++; n >= busyEvents {
			if now := time.Now(); now.Sub(window) < time.Second && ctx.Err() == nil {
				h.mu.Lock()
				h.busy = true
				h.mu.Unlock()
			}
			window, n = time.Now(), 0
		}
		h.mu.Lock()
		watched := len(h.watched) > 0 && h.watched["job:"+ev.JobID] > 0
		h.mu.Unlock()
		if watched {
			signal(h.nudge)
		}
		signal(h.changed)
	}
	if ctx.Err() == nil {
		h.mu.Lock()
		h.lost = true
		h.mu.Unlock()
		signal(h.changed)
	}
}

// signal makes a non-blocking send on a channel of capacity 1.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// watchedItems returns the open pages of jobs, workflows and batches, by item; with a kind
// ("batch:"), those of that kind only.
func (h *hub) watchedItems(kind ...string) map[string][]*subscriber {
	h.mu.Lock()
	defer h.mu.Unlock()
	watched := map[string][]*subscriber{}
	for sub := range h.subs {
		if len(kind) > 0 && !strings.HasPrefix(sub.watch, kind[0]) {
			continue
		}
		if sub.watch != "" && (len(watched) < maxWatched || watched[sub.watch] != nil) {
			watched[sub.watch] = append(watched[sub.watch], sub)
		}
	}
	return watched
}
