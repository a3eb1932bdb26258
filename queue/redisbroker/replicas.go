package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated is wrapped by the error of an enqueue or a Finish that Redis made on the
// master but fewer replicas than Options.WaitReplicas confirmed within Options.WaitTimeout:
// the write is not acknowledged, as a failover may lose it. Retrying the call is safe: a job
// whose enqueue went through is refused as a duplicate (queue.ErrDuplicateJob: it is there),
// and an outcome recorded already is ignored.
var ErrNotReplicated = errors.New("fewer replicas than asked confirmed the write")

// ErrClusterWait is the error of Options.WaitReplicas on a Redis Cluster: a write's WAIT must
// be sent to the master that made it, and an enqueue or an outcome batch may span several.
var ErrClusterWait = errors.New("waiting for replicas (WaitReplicas, DOMINION_REDIS_WAIT_REPLICAS) is not supported on a Redis Cluster")

// DefaultWaitTimeout is how long an acknowledged write waits for its replicas by default.
const DefaultWaitTimeout = time.Second

// replication is the wait of Options.WaitReplicas.
type replication struct {
	replicas int // 0: acknowledge writes without waiting
	timeout  time.Duration
}

// acknowledged is pipelined for the writes a caller is told are done (enqueues, outcomes):
// with WaitReplicas set, the same round trip then bumps a counter (so that the wait covers
// every earlier write to the master, also one made by another connection: the first try of
// a retried call, whose retry writes nothing) and runs WAIT, and the call fails with
// ErrNotReplicated when fewer replicas confirm.
func (b *Broker) acknowledged(ctx context.Context, calls []*evalCall, more func(redis.Pipeliner)) error {
	if b.repl.replicas == 0 {
		return b.pipelined(ctx, calls, more)
	}
	if b.cluster {
		return ErrClusterWait
	}
	var wait *redis.Cmd
	err := b.pipelined(ctx, calls, func(p redis.Pipeliner) {
		if more != nil {
			more(p)
		}
		wait = b.waitReplicas(ctx, p)
	})
	if err != nil {
		return err
	}
	if slices.ContainsFunc(calls, func(c *evalCall) bool { return c.reloaded }) {
		// Scripts the server did not know ran again after that WAIT: wait for them.
		_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			wait = b.waitReplicas(ctx, p)
			return nil
		})
		if err != nil {
			return err
		}
	}
	n, err := wait.Int64()
	if err != nil {
		return err
	}
	if n < int64(b.repl.replicas) {
		return fmt.Errorf("%w: %d of %d replicas within %s", ErrNotReplicated, n, b.repl.replicas, b.repl.timeout)
	}
	return nil
}

// waitReplicas adds to p a write to the master and a WAIT for the replicas to have it.
func (b *Broker) waitReplicas(ctx context.Context, p redis.Pipeliner) *redis.Cmd {
	p.Incr(ctx, b.keys.replicated())
	return p.Do(ctx, "WAIT", b.repl.replicas, b.repl.timeout.Milliseconds())
}
