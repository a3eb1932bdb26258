package queue

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Jitter returns a random duration in [d/2, d], so that processes retrying after one failure
// do not retry in step.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// reconnectDelay is the backoff between failed broker calls: 100 ms doubling to 5 s, each
// wait jittered (Jitter).
type reconnectDelay struct{ d time.Duration }

func newReconnectDelay() *reconnectDelay { return &reconnectDelay{} }

func (r *reconnectDelay) next() time.Duration {
	r.d = min(max(r.d*2, 100*time.Millisecond), 5*time.Second)
	return Jitter(r.d)
}

func (r *reconnectDelay) reset() { r.d = 0 }

// sleepCtx waits for d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// downLog logs one line when the broker stops answering and one when it answers again,
// however many calls fail in between and however many loops of one component (a worker's
// fetch, heartbeat and completer; a scheduler) report to it. Safe for concurrent use.
type downLog struct {
	log        *slog.Logger
	down, back string // the two messages

	mu      sync.Mutex
	isDown  bool
	changed time.Time // when the latest change (down or back) was logged
}

// downSettle is how long after the broker's return failures are not taken for a new outage:
// a client's pool can answer with the outage's last dial error for up to a second after
// another of its connections got through.
const downSettle = 2 * time.Second

// report records the outcome of a broker call begun at began: the first failure of an
// outage is logged at warn level (down, with args and err), and the first success after one
// at info level (back, with how long the outage lasted). A call begun before the latest
// change was logged is ignored (it may have straddled the change), and so are failures within
// downSettle of the return.
func (d *downLog) report(began time.Time, err error, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if began.Before(d.changed) || (err != nil) == d.isDown {
		return
	}
	now := time.Now()
	if err != nil {
		if !d.changed.IsZero() && now.Sub(d.changed) < downSettle {
			return
		}
		d.log.Warn(d.down, append(args, "err", err)...)
	} else {
		d.log.Info(d.back, append(args, "after", now.Sub(d.changed).Round(time.Millisecond))...)
	}
	d.isDown, d.changed = err != nil, now
}
