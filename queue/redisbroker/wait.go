package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/internal/clock"
	"github.com/codex-dominion/dominion/queue"
)

// maxBlock bounds one blocking wait in Redis that is not followed by a fetch in the same
// round trip (a wait timed on a due job, a cluster's). go-redis does not interrupt a blocking
// command when its context is canceled, so a wait abandoned by its caller holds a connection
// (and may take a wake-up token, which it then puts back) for at most this long.
const maxBlock = time.Second

// maxPipelinedBlock bounds the BLPOP of blockThenFetch, which a canceled caller ends at once:
// an idle worker runs the fetch script once per maxPipelinedBlock (the worker's default
// FetchWait), as it did when it fetched only after its whole wait.
const maxPipelinedBlock = 5 * time.Second

// blockThenFetch sends a BLPOP on the queues' wake-up lists, for up to block, and the fetch
// script after it, in one round trip: Redis runs the script as soon as the BLPOP returns, so
// that a job enqueued for an idle worker is leased without the worker's own round trip in
// between. It reports whether the BLPOP took a token.
//
// The BLPOP also waits on a list of its own (p:unblock:<token>): when ctx is done first,
// blockThenFetch pushes to it, so that the BLPOP returns at once and the fetch leases
// nothing; it gives back the jobs a fetch leased when a wake-up token came first (Requeue:
// at the front of their queue, their attempt not counted). It returns within
// canceledWaitGrace of ctx's end, even when Redis does not answer. Only on one server: on a
// cluster the lists of several queues are in several slots.
func (b *Broker) blockThenFetch(ctx context.Context, req queue.FetchRequest, block time.Duration) (fetched, bool, error) {
	if err := ctx.Err(); err != nil {
		return fetched{}, false, err
	}
	bg := context.WithoutCancel(ctx)
	c := b.newFetchCall(req, req.Queues, max(req.Max, 1), 0)
	unblock := b.keys.unblock(c.token)
	c.keys = append(c.keys, unblock) // the fetch leases nothing after an unblock (fetch.lua)
	c.args = append(c.args, "1")
	pipe := b.blocker.Pipeline()
	pop := pipe.Do(bg, blpopArgs(append(b.wakeKeys(req.Queues), unblock), block)...)
	run := b.s.fetch.EvalSha(bg, pipe, c.keys, c.args...)
	unblocked := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(unblocked)
		if err := b.run(bg, b.s.unblock, []string{unblock}).Err(); err != nil {
			b.log.Warn("redisbroker: end a canceled wait", "key", unblock, "err", err)
		}
	})
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		_, _ = pipe.Exec(bg)
	}()
	if !awaitAnswer(ctx, answered) {
		// Redis did not answer in time (it hangs, or the network does): the caller is not
		// kept waiting for the read timeout. Whatever the fetch leases later is given back.
		b.background.Go(func() {
			<-answered
			<-unblocked
			b.giveBack(bg, req.WorkerID, c, run)
		})
		return fetched{}, false, ctx.Err()
	}
	if !stop() { // ctx is done: the worker that asked is gone
		<-unblocked
		b.giveBack(bg, req.WorkerID, c, run)
		return fetched{}, false, ctx.Err()
	}
	if redis.HasErrorPrefix(run.Err(), "NOSCRIPT") { // it did not run: a restarted server
		r, err := c.result(b.run(bg, b.s.fetch, c.keys, c.args...))
		return r, pop.Err() == nil, err
	}
	r, err := c.result(run)
	if err == nil && len(r.jobs) == 0 {
		if perr := pop.Err(); perr != nil && !errors.Is(perr, redis.Nil) {
			return fetched{}, false, b.wrap(perr, "wait for jobs on queues %v", req.Queues)
		}
	}
	return r, pop.Err() == nil, err
}

// canceledWaitGrace bounds how long a Fetch whose caller gave up waits for the answer of its
// wait: time for the unblock to reach Redis and the pipeline's reply to come back.
const canceledWaitGrace = time.Second

// awaitAnswer waits for the pipeline of blockThenFetch to be answered; once ctx is done, for
// at most canceledWaitGrace more. It reports whether the answer came.
func awaitAnswer(ctx context.Context, answered <-chan struct{}) bool {
	select {
	case <-answered:
		return true
	case <-ctx.Done():
	}
	return clock.AtMost(clock.Real(), answered, canceledWaitGrace)
}

// giveBack puts back, pending at the front of their queues with their attempt not counted,
// the jobs that fetch call c leased (run is its reply) for a worker that gave up on it: it
// leases none when the unblock ended its wait, but may when a wake-up token came first.
func (b *Broker) giveBack(ctx context.Context, workerID string, c *fetchCall, run *redis.Cmd) {
	r, err := c.result(run)
	if err != nil || len(r.jobs) == 0 {
		return
	}
	if err := b.Requeue(ctx, workerID, r.jobs); err != nil {
		b.log.Warn("redisbroker: give back the jobs of a canceled fetch", "jobs", len(r.jobs), "err", err)
	}
}

// wakeKeys returns the wake-up list of each queue.
func (b *Broker) wakeKeys(queues []string) []string {
	keys := make([]string, len(queues))
	for i, q := range queues {
		keys[i] = b.keys.base(q) + "wake"
	}
	return keys
}

// blpopArgs is a BLPOP on keys for up to block. (go-redis's BLPop rounds timeouts to seconds.)
func blpopArgs(keys []string, block time.Duration) []any {
	args := make([]any, 0, len(keys)+2)
	args = append(args, "BLPOP")
	for _, k := range keys {
		args = append(args, k)
	}
	return append(args, strconv.FormatFloat(max(block.Seconds(), 0.001), 'f', 3, 64))
}

// waitWake waits until a wake-up token is pushed to one of the queues' lists, d has passed, or
// ctx is done (then it returns ctx's error). Redis times blocking commands out only as
// precisely as its hz setting (100 ms by default), so when exact is set the wait ends on a
// Go timer at d, and a scheduled job runs on time.
func (b *Broker) waitWake(ctx context.Context, queues []string, d time.Duration, exact bool) error {
	wakeKeys := b.wakeKeys(queues)
	deadline := time.Now().Add(d)
	for {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return nil
		}
		block := min(remaining, maxBlock)
		woke, err := b.popWake(ctx, wakeKeys, block, exact && remaining <= maxBlock)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return b.wrap(err, "wait for jobs on queues %v", queues)
		}
		if woke {
			return nil
		}
	}
}

// popWake runs BLPOP on the wake-up lists for up to block and reports whether it took a
// token. It returns as soon as ctx is done or, when exact, when block has passed; the BLPOP
// then goes on in the background and puts back a token it takes, for another worker. On a
// cluster each list has a BLPOP of its own (its slot's), the first token ending the wait.
func (b *Broker) popWake(ctx context.Context, wakeKeys []string, block time.Duration, exact bool) (bool, error) {
	groups := [][]string{wakeKeys}
	if b.cluster && len(wakeKeys) > 1 {
		groups = make([][]string, len(wakeKeys))
		for i, k := range wakeKeys {
			groups[i] = []string{k}
		}
	}
	type result struct {
		key string
		err error
	}
	delivered := make(chan result) // unbuffered: a result is received, or the wait abandoned
	abandoned := make(chan struct{})
	defer close(abandoned)
	for _, keys := range groups {
		b.background.Go(func() {
			key, err := b.blpop(context.WithoutCancel(ctx), keys, block)
			select {
			case delivered <- result{key, err}:
			case <-abandoned:
				if key != "" {
					b.putBackToken(key)
				}
			}
		})
	}
	var timeout <-chan time.Time
	if exact {
		t := time.NewTimer(block)
		defer t.Stop()
		timeout = t.C
	}
	for range groups {
		select {
		case r := <-delivered:
			if r.key != "" || r.err != nil {
				return r.key != "", r.err
			}
		case <-ctx.Done():
			return false, ctx.Err()
		case <-timeout:
			return false, nil
		}
	}
	return false, nil
}

// blpop pops a token from the first non-empty list of keys, waiting up to block; it returns
// the list's key, or "" when it timed out.
func (b *Broker) blpop(ctx context.Context, keys []string, block time.Duration) (string, error) {
	reply, err := b.rdb.Do(ctx, blpopArgs(keys, block)...).StringSlice()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if len(reply) != 2 {
		return "", fmt.Errorf("BLPOP replied %v", reply)
	}
	return reply[0], nil
}

// putBackToken pushes back a token that an abandoned wait took from wakeKey.
func (b *Broker) putBackToken(wakeKey string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	base := strings.TrimSuffix(wakeKey, "wake")
	if err := b.run(ctx, b.s.wake, []string{base}).Err(); err != nil && !errors.Is(err, redis.ErrClosed) {
		b.log.Warn("redisbroker: put back a wake-up token", "key", wakeKey, "err", err)
	}
}
