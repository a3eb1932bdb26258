package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/queue"
)

// maxBlock bounds one blocking wait in Redis. go-redis does not interrupt a blocking command
// when its context is canceled, so a wait abandoned by its caller holds a connection (and
// may take a wake-up token, which it then puts back) for at most this long.
const maxBlock = time.Second

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
// once more and returns what that gives.
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
	wait, exact := req.Wait, false
	if r.next >= 0 && r.next < wait {
		wait, exact = r.next, true
	}
	if wait > 0 {
		if err := b.waitWake(ctx, req.Queues, wait, exact); err != nil {
			return nil, err
		}
	}
	r, err = b.fetchOnce(ctx, req)
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
	lease := req.Lease
	if lease <= 0 {
		lease = defaultLease
	}
	if err := ctx.Err(); err != nil {
		return fetched{}, err
	}
	// Once sent, the script is waited for even if ctx ends: the jobs it leases are returned
	// rather than left leased to no one until their lease runs out. If the reply is lost and
	// the call sent again, the token makes the second run return what the first leased
	// (resend.go).
	key := fetchKey(req.WorkerID, queues)
	token := b.orphans.take(key, max)
	reply, err := b.run(context.WithoutCancel(ctx), b.s.fetch, b.keys.bases(queues),
		req.WorkerID, max, lease.Milliseconds(), b.maxDead, before, token).Slice()
	if err != nil {
		b.orphans.failed(key, token, max, lease, err)
		return fetched{}, b.wrap(err, "fetch from queues %v", queues)
	}
	r, err := b.decodeFetch(reply, req)
	if err != nil {
		return fetched{}, b.wrap(err, "fetch from queues %v: bad reply", queues)
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

// waitWake waits until a wake-up token is pushed to one of the queues' lists, d has passed, or
// ctx is done (then it returns ctx's error). Redis times blocking commands out only as
// precisely as its hz setting (100 ms by default), so when exact is set the wait ends on a
// Go timer at d, and a scheduled job runs on time.
func (b *Broker) waitWake(ctx context.Context, queues []string, d time.Duration, exact bool) error {
	wakeKeys := make([]string, len(queues))
	for i, q := range queues {
		wakeKeys[i] = b.keys.base(q) + "wake"
	}
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
		go func() {
			key, err := b.blpop(context.WithoutCancel(ctx), keys, block)
			select {
			case delivered <- result{key, err}:
			case <-abandoned:
				if key != "" {
					b.putBackToken(key)
				}
			}
		}()
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
// the list's key, or "" when it timed out. (go-redis's BLPop rounds timeouts to seconds.)
func (b *Broker) blpop(ctx context.Context, keys []string, block time.Duration) (string, error) {
	args := make([]any, 0, len(keys)+2)
	args = append(args, "BLPOP")
	for _, k := range keys {
		args = append(args, k)
	}
	secs := max(block.Seconds(), 0.001)
	args = append(args, strconv.FormatFloat(secs, 'f', 3, 64))
	reply, err := b.rdb.Do(ctx, args...).StringSlice()
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
