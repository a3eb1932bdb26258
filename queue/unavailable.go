package queue

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of the delay before a job whose handler returned an Unavailable error runs again.
const (
	minUnavailableDelay        = 250 * time.Millisecond
	DefaultMaxUnavailableDelay = 10 * time.Second
)

// outage tracks a worker's view of its handlers' dependencies: whether they are unavailable
// and for how many outcomes in a row, which sets the delay before snoozed jobs run again. It
// logs one line when a dependency becomes unavailable and one when it is back, not one per
// job.
type outage struct {
	log *slog.Logger
	max time.Duration

	// on is set while an outage is recorded (since is not zero), so that ok, called for
	// every outcome, takes no lock when there is none.
	on    atomic.Bool
	mu    sync.Mutex
	n     int       // consecutive Unavailable outcomes
	since time.Time // when the current outage was first seen; zero when none
}

// snooze records an Unavailable outcome of job and returns how long the job waits: a random
// duration in [d/2, d], d doubling from 250 ms with each consecutive Unavailable outcome, up
// to the maximum.
func (o *outage) snooze(job *Job, err error) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		o.since = time.Now()
		o.on.Store(true)
		o.log.Warn("a dependency is unavailable: jobs wait for it without using their attempts",
			"queue", job.Queue, "type", job.Type, "err", err)
	}
	d := o.max
	if o.n < 16 {
		d = min(minUnavailableDelay<<o.n, o.max)
	}
	o.n++
	return Jitter(d)
}

// ok records an outcome that was not Unavailable: the dependencies answered again.
func (o *outage) ok() {
	if !o.on.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		return
	}
	o.log.Info("dependencies are available again; waiting jobs resume", "after", time.Since(o.since).Round(time.Millisecond))
	o.n, o.since = 0, time.Time{}
	o.on.Store(false)
}
