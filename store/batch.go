package store

import (
	"context"
	"errors"
	"runtime"
	"sync"
)

// Group commit. The API's hot path (CreateWorkflow, then MarkEnqueued) is many small writes
// arriving at once. A batcher hands the calls waiting at the moment to one goroutine, which
// runs them together: in one transaction on SQLite (one writer, one commit for the group), as
// one multi-row statement on PostgreSQL (one round trip). A call returns only once its
// group's transaction has committed (or failed), so "returned nil" still means "durable".
// Under no load a group holds one call and adds nothing but a channel hand-off and a yield
// of the processor (gather); under load groups grow by themselves, as calls pile up while the
// previous group runs.

// maxBatch bounds the calls run together.
const maxBatch = 128

// errClosed is returned by writes made after Close.
var errClosed = errors.New("store is closed")

// call is one waiting call of a batcher.
type call[Req, Res any] struct {
	ctx  context.Context
	req  Req
	res  Res
	err  error
	done chan struct{}
}

// batcher runs calls in groups on one goroutine: run gets the live calls of a group (those
// whose context is not done) and must set res or err on every one of them.
type batcher[Req, Res any] struct {
	in   chan *call[Req, Res]
	run  func(calls []*call[Req, Res])
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newBatcher[Req, Res any](run func([]*call[Req, Res])) *batcher[Req, Res] {
	b := &batcher[Req, Res]{in: make(chan *call[Req, Res]), run: run, stop: make(chan struct{})}
	b.wg.Add(1)
	go b.loop()
	return b
}

// do runs req in the next group and returns its result. It returns early with ctx's error
// only while req waits to join a group; once taken, a call is always answered.
func (b *batcher[Req, Res]) do(ctx context.Context, req Req) (Res, error) {
	c := &call[Req, Res]{ctx: ctx, req: req, done: make(chan struct{})}
	select {
	case b.in <- c:
	case <-ctx.Done():
		var zero Res
		return zero, ctx.Err()
	case <-b.stop:
		var zero Res
		return zero, errClosed
	}
	<-c.done
	return c.res, c.err
}

func (b *batcher[Req, Res]) loop() {
	defer b.wg.Done()
	group := make([]*call[Req, Res], 0, maxBatch)
	for {
		select {
		case c := <-b.in:
			group = append(group[:0], c)
		case <-b.stop:
			return
		}
		group = b.gather(group)
		live := group[:0:0]
		for _, c := range group {
			if err := c.ctx.Err(); err != nil {
				c.err = err
				close(c.done)
				continue
			}
			live = append(live, c)
		}
		if len(live) > 0 {
			b.run(live)
			for _, c := range live {
				close(c.done)
			}
		}
		clear(group)
	}
}

// gatherRounds bounds the times gather yields the processor for one group.
const gatherRounds = 4

// gather adds to group the calls waiting to join, and returns it. Before each look it yields
// the processor (runtime.Gosched), so that the goroutines ready to run, such as API handlers
// a few instructions from calling, join this group rather than wait for the next; it looks
// again while a look finds new calls, at most gatherRounds times. It never waits for a call
// that is not already on its way: with nothing else to run a yield costs about 0.1 µs. Under
// load it halves the number of commits (BenchmarkChatLoad: 2,500 → 1,150 for 20,000
// workflows), each of which writes every page it changed.
func (b *batcher[Req, Res]) gather(group []*call[Req, Res]) []*call[Req, Res] {
	for range gatherRounds {
		n := len(group)
		runtime.Gosched()
	more:
		for len(group) < maxBatch {
			select {
			case c := <-b.in:
				group = append(group, c)
			default:
				break more
			}
		}
		if len(group) == n || len(group) == maxBatch {
			break
		}
	}
	return group
}

// close stops the loop once its current group is answered; later calls get errClosed.
func (b *batcher[Req, Res]) close() {
	b.once.Do(func() { close(b.stop) })
	b.wg.Wait()
}
