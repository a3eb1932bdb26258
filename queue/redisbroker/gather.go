package redisbroker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/codex-dominion/dominion/queue"
)

// Concurrent small enqueues are gathered into one pipeline (group commit). An API server
// enqueues one job per request, from as many goroutines as it has requests; each Enqueue on
// its own costs redis-server a round trip of its own (about 20 µs of its CPU, several times
// what storing the job costs). So an Enqueue of a few jobs without parents or batch goes
// through the gatherer: when fewer than maxFlushing flushes are on their way it sends its
// jobs at once, with those of every call waiting; otherwise it waits for the next flush,
// which the flush before it starts as it ends. A caller alone is sent at once, as before; under
// load, the calls that arrive while a flush is on its way share the next one.
//
// Each call gets its own jobs' errors (a duplicate ID or unique key among calls gathered
// together is told as between calls made one after the other). An error of the flush (Redis
// unreachable, a reply lost) is every call's in it, as it is every job's of one Enqueue: any of
// the jobs may have been stored. A call is checked (checkJob) before it is gathered, so that
// one call's invalid job never fails another's.
//
// A call whose context ends while its jobs wait withdraws them: it returns the context's error,
// and nothing of it is stored. Once they are sent, it returns the context's error at once, and
// its jobs may be stored, as with a call of its own cut short. The flush goes on for the
// others: its context ends only when every call's in it has ended.

const (
	// gatherMax is the largest Enqueue that is gathered; a bigger one is its own pipeline.
	gatherMax = 64
	// flushMax bounds the jobs of one flush: calls beyond wait for the next.
	flushMax = 2 * enqueueChunk
	// maxFlushing is the number of flushes on their way at once: two, so that redis-server
	// runs one while the other's reply travels and the next is made.
	maxFlushing = 2
)

// gatherer holds the enqueues waiting for a flush.
type gatherer struct {
	mu       sync.Mutex
	waiting  []*gathered
	flushing int
}

// gathered is one Enqueue call waiting for its answer.
type gathered struct {
	ctx  context.Context
	jobs []*queue.Job
	errs []error // the answer: the jobs' errors,
	err  error   // or the flush's
	done chan struct{}
}

// gatherable reports whether an Enqueue of jobs goes through the gatherer.
func gatherable(jobs []*queue.Job) bool {
	if len(jobs) > gatherMax {
		return false
	}
	for _, j := range jobs {
		if len(j.DependsOn) > 0 || j.Batch != "" {
			return false
		}
	}
	return true
}

// enqueueGathered stores jobs as Enqueue does, in a flush shared with the calls that wait
// at the same time.
func (b *Broker) enqueueGathered(ctx context.Context, jobs []*queue.Job) ([]error, error) {
	c := &gathered{ctx: ctx, jobs: jobs, done: make(chan struct{})}
	g := &b.gather
	g.mu.Lock()
	g.waiting = append(g.waiting, c)
	var group []*gathered
	if g.flushing < maxFlushing {
		g.flushing++
		group = g.take()
	}
	g.mu.Unlock()
	if group != nil {
		b.flush(group)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		select {
		case <-c.done: // answered meanwhile
			return c.errs, c.err
		default:
		}
		if g.withdraw(c) {
			return nil, fmt.Errorf("redisbroker: enqueue %d jobs: not sent: %w", len(jobs), ctx.Err())
		}
		return nil, fmt.Errorf("redisbroker: enqueue %d jobs: sent, not answered (they may be stored): %w", len(jobs), ctx.Err())
	}
	return c.errs, c.err
}

// take removes from the waiting calls those of the next flush, oldest first. g.mu is held.
func (g *gatherer) take() []*gathered {
	n, k := 0, 0
	for k < len(g.waiting) && (k == 0 || n+len(g.waiting[k].jobs) <= flushMax) {
		n += len(g.waiting[k].jobs)
		k++
	}
	group := g.waiting[:k:k]
	g.waiting = g.waiting[k:]
	if len(g.waiting) == 0 {
		g.waiting = nil // let the array go
	}
	return group
}

// withdraw removes c from the waiting calls; false if a flush took it already.
func (g *gatherer) withdraw(c *gathered) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, w := range g.waiting {
		if w == c {
			g.waiting = append(g.waiting[:i:i], g.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// flush stores the jobs of group in one Enqueue and answers each call; then, while calls
// wait, it starts the next flush.
func (b *Broker) flush(group []*gathered) {
	b.flushNow(group)
	g := &b.gather
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.waiting) == 0 {
		g.flushing--
		return
	}
	next := g.take()
	go b.flush(next)
}

// flushNow stores the jobs of group in one Enqueue, with a context that ends once every call's
// has, and answers each call.
func (b *Broker) flushNow(group []*gathered) {
	ctx, stop := sharedContext(group)
	defer stop()
	var jobs []*queue.Job
	if len(group) == 1 {
		jobs = group[0].jobs
	} else {
		for _, c := range group {
			jobs = append(jobs, c.jobs...)
		}
	}
	errs, err := b.enqueueNow(ctx, jobs)
	for _, c := range group {
		switch {
		case err == nil:
			c.errs, errs = errs[:len(c.jobs):len(c.jobs)], errs[len(c.jobs):]
		case len(group) == 1:
			c.err = err
		default:
			c.err = fmt.Errorf("%w (this call's %d jobs were sent with those of %d other calls)", err, len(c.jobs), len(group)-1)
		}
		close(c.done)
	}
}

// sharedContext returns a context that carries the first call's values and ends when every
// call's context has ended, and a function that releases it.
func sharedContext(group []*gathered) (context.Context, func()) {
	if len(group) == 1 {
		return group[0].ctx, func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(group[0].ctx))
	var left atomic.Int64
	left.Store(int64(len(group)))
	stops := make([]func() bool, len(group))
	for i, c := range group {
		stops[i] = context.AfterFunc(c.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
