package redisbroker

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/queue"
)

// defaultLease is used when a FetchRequest has no lease.
const defaultLease = 30 * time.Second

// fetched is what one run of the fetch script returned.
type fetched struct {
	jobs []*queue.Job
	// next is the time until the soonest scheduled or retry run-at or lease deadline of the
	// queues, when no job was leased (-1: none).
	next time.Duration
	// spent tells that the script deleted wake-up tokens, the worker being about to wait.
	spent bool
}

// Fetch leases up to req.Max jobs (see queue.Broker). When none is available it blocks on the
// queues' wake-up lists (BLPOP), which enqueues push to, for at most req.Wait, and less when a
// scheduled or retry job falls due or a lease runs out sooner; then it runs the fetch script
// once more and returns what that gives. On one server the BLPOP and that fetch go in one
// round trip (blockThenFetch), up to maxPipelinedBlock each, until a token comes or req.Wait
// ends.
func (b *Broker) Fetch(ctx context.Context, req queue.FetchRequest) ([]*queue.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkQueues(req.Queues); err != nil {
		return nil, fmt.Errorf("redisbroker: fetch from queues %v: %w", req.Queues, err)
	}
	r, err := b.fetchOnce(ctx, req)
	if err != nil || len(r.jobs) > 0 || req.Wait <= 0 {
		return r.jobs, err
	}
	deadline := time.Now().Add(req.Wait)
	for {
		wait := time.Until(deadline)
		if exact := r.next >= 0 && r.next < wait; exact || b.blocker == nil {
			if exact {
				wait = r.next
			}
			return b.waitThenFetch(ctx, req, wait, exact)
		}
		if wait <= 0 {
			return nil, nil
		}
		var woke bool
		r, woke, err = b.blockThenFetch(ctx, req, min(wait, maxPipelinedBlock))
		if err != nil || len(r.jobs) > 0 || woke {
			return r.jobs, err
		}
	}
}

// waitThenFetch waits for a wake-up token for up to wait (until wait exactly, on a Go timer,
// when exact), then runs the fetch script once and returns what it leased.
func (b *Broker) waitThenFetch(ctx context.Context, req queue.FetchRequest, wait time.Duration, exact bool) ([]*queue.Job, error) {
	if wait > 0 {
		if err := b.waitWake(ctx, req.Queues, wait, exact); err != nil {
			return nil, err
		}
	}
	r, err := b.fetchOnce(ctx, req)
	return r.jobs, err
}

// fetchOnce runs the fetch script: once for all the queues, or on a cluster once per queue
// in their order until max jobs are leased.
func (b *Broker) fetchOnce(ctx context.Context, req queue.FetchRequest) (fetched, error) {
	max := max(req.Max, 1)
	if !b.cluster || len(req.Queues) == 1 {
		return b.fetchScript(ctx, req, req.Queues, max, 0)
	}
	all := fetched{next: -1}
	var spent []string
	var failed error
	for _, q := range req.Queues {
		r, err := b.fetchScript(ctx, req, []string{q}, max-len(all.jobs), len(all.jobs))
		if err != nil {
			// This queue's master is unreachable (a failover): serve the others meanwhile.
			failed = err
			continue
		}
		all.jobs = append(all.jobs, r.jobs...)
		if r.next >= 0 && (all.next < 0 || r.next < all.next) {
			all.next = r.next
		}
		if r.spent {
			spent = append(spent, q)
		}
		if len(all.jobs) >= max {
			break
		}
	}
	if len(all.jobs) == 0 && failed != nil {
		return fetched{}, failed
	}
	if len(all.jobs) > 0 {
		// Not waiting after all: give back the tokens the empty queues before spent, for a
		// waiting worker to re-time its wait on (as one script over all queues would have).
		b.rewake(ctx, spent)
		all.next = -1
	}
	return all, nil
}

// fetchScript runs the fetch script on queues, leasing up to max jobs; before is how many
// this fetch leased already from other queues.
func (b *Broker) fetchScript(ctx context.Context, req queue.FetchRequest, queues []string, max, before int) (fetched, error) {
	if err := ctx.Err(); err != nil {
		return fetched{}, err
	}
	// Once sent, the script is waited for even if ctx ends: the jobs it leases are returned
	// rather than left leased to no one until their lease runs out. If the reply is lost and
	// the call sent again, the token makes the second run return what the first leased
	// (resend.go).
	c := b.newFetchCall(req, queues, max, before)
	return c.result(b.run(context.WithoutCancel(ctx), b.s.fetch, c.keys, c.args...))
}

// fetchCall is one run of the fetch script, with the token that makes it safe to send again
// (resend.go).
type fetchCall struct {
	b          *Broker
	req        queue.FetchRequest
	queues     []string
	key, token string // the fetch's orphanFetches key, and the call's token
	max        int
	lease      time.Duration
	keys       []string
	args       []any
}

// newFetchCall prepares a run of the fetch script on queues, leasing up to max jobs; before
// is how many this fetch leased already from other queues.
func (b *Broker) newFetchCall(req queue.FetchRequest, queues []string, max, before int) *fetchCall {
	lease := req.Lease
	if lease <= 0 {
		lease = defaultLease
	}
	c := &fetchCall{b: b, req: req, queues: queues, key: fetchKey(req.WorkerID, queues), max: max, lease: lease, keys: b.keys.bases(queues)}
	c.token = b.orphans.take(c.key, max)
	c.args = []any{req.WorkerID, max, lease.Milliseconds(), b.maxDead, before, c.token}
	return c
}

// result reads the reply of the call's run; a call that failed after it may have run leaves
// its token to the worker's next fetch (orphanFetches).
func (c *fetchCall) result(cmd *redis.Cmd) (fetched, error) {
	reply, err := cmd.Slice()
	if err != nil {
		c.b.orphans.failed(c.key, c.token, c.max, c.lease, err)
		return fetched{}, c.b.wrap(err, "fetch from queues %v", c.queues)
	}
	r, err := c.b.decodeFetch(reply, c.req)
	if err != nil {
		return fetched{}, c.b.wrap(err, "fetch from queues %v: bad reply", c.queues)
	}
	return r, nil
}

// rewake pushes a wake-up token to each of queues.
func (b *Broker) rewake(ctx context.Context, queues []string) {
	if len(queues) == 0 {
		return
	}
	calls := make([]*evalCall, len(queues))
	for i, q := range queues {
		calls[i] = &evalCall{script: b.s.wake, keys: []string{b.keys.base(q)}}
	}
	if err := b.pipelined(context.WithoutCancel(ctx), calls, nil); err != nil {
		b.log.Warn("redisbroker: give back wake-up tokens", "queues", queues, "err", err)
	}
}

// decodeFetch reads the fetch script's reply: {now, next, spent, then per job: queue index,
// attempt, packed fields, errors, run-at}.
func (b *Broker) decodeFetch(reply []any, req queue.FetchRequest) (fetched, error) {
	const head = 3
	if len(reply) < head || (len(reply)-head)%5 != 0 {
		return fetched{}, fmt.Errorf("%d values", len(reply))
	}
	now, _ := reply[0].(int64)
	next, _ := reply[1].(int64)
	spent, _ := reply[2].(int64)
	r := fetched{next: -1, spent: spent > 0}
	if next >= 0 {
		r.next = time.Duration(next) * time.Millisecond
	}
	started := time.UnixMilli(now)
	r.jobs = make([]*queue.Job, 0, (len(reply)-head)/5)
	for i := head; i < len(reply); i += 5 {
		attempt, _ := reply[i+1].(int64)
		packed, _ := reply[i+2].(string)
		errs, _ := reply[i+3].([]any)
		job, err := decodeLeased(packed, errs)
		if err != nil {
			// Leased but unreadable: its lease runs out and recovery sends it on.
			b.log.Error("redisbroker: fetched job cannot be decoded", "err", err)
			continue
		}
		job.State, job.Attempt, job.StartedAt, job.WorkerID = queue.StateActive, int(attempt), started, req.WorkerID
		if runAt, _ := reply[i+4].(int64); runAt > 0 {
			job.RunAt = time.UnixMilli(runAt)
		}
		r.jobs = append(r.jobs, job)
	}
	return r, nil
}
