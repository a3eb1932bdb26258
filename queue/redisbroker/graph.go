package redisbroker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/queue"
)

// splitGraph returns the indexes of the jobs without parents or batch (the enqueue script's)
// and of the others (enqueuegraph.lua's), each in order, leaving out those refused in errs.
func splitGraph(jobs []*queue.Job, errs []error) (plain, graph []int) {
	plain = make([]int, 0, len(jobs))
	for i, j := range jobs {
		if errs[i] != nil {
			continue
		}
		if len(j.DependsOn) > 0 || j.Batch != "" {
			graph = append(graph, i)
		} else {
			plain = append(plain, i)
		}
	}
	return plain, graph
}

// graphCalls returns the enqueuegraph.lua calls of the jobs at indexes graph, in their order:
// one call per run of consecutive jobs of one queue (at most enqueueChunk jobs), with the job
// indexes of each call.
func (b *Broker) graphCalls(jobs []*queue.Job, graph []int) ([]*evalCall, [][]int) {
	var calls []*evalCall
	var chunks [][]int
	here := "" // on a cluster, parents and batches are looked up on the job's queue only
	if b.cluster {
		here = "1"
	}
	for len(graph) > 0 {
		q := jobs[graph[0]].Queue
		n := 1
		for n < len(graph) && n < enqueueChunk && jobs[graph[n]].Queue == q {
			n++
		}
		args := []any{b.keys.prefix, here}
		for _, i := range graph[:n] {
			j := jobs[i]
			args = appendEnqueueArgs(args, j, appendPacked(nil, j))
			anyway := ""
			if j.RunOnParentFailure {
				anyway = "1"
			}
			args = append(args, j.Batch, anyway, strconv.Itoa(len(j.DependsOn)))
			for _, p := range j.DependsOn {
				args = append(args, p)
			}
		}
		calls = append(calls, &evalCall{script: b.s.enqueueGraph, keys: []string{b.keys.base(q)}, args: args})
		chunks = append(chunks, graph[:n])
		graph = graph[n:]
	}
	return calls, chunks
}

// enqueueGraph stores the jobs at indexes graph after the others (a round trip of its own,
// so that a script the server had to load again cannot run a child before its parent), and
// sets their errors in errs. On one server the script registers its queue (in p:queues, so
// that the next call finds the parents on it); on a cluster p:queues is in another slot, and
// the same round trip registers the queues.
func (b *Broker) enqueueGraph(ctx context.Context, jobs []*queue.Job, graph []int, errs []error) error {
	if len(graph) == 0 {
		return nil
	}
	calls, chunks := b.graphCalls(jobs, graph)
	var names []any
	var register func(redis.Pipeliner)
	if b.cluster {
		qs, _ := groupByQueue(len(graph), func(k int) string { return jobs[graph[k]].Queue })
		if names = b.unregistered(qs); len(names) > 0 {
			register = func(p redis.Pipeliner) { p.SAdd(ctx, b.keys.queues(), names...) }
		}
	}
	if err := b.acknowledged(ctx, calls, register); err != nil {
		return b.wrap(err, "enqueue %d jobs with parents or batch", len(graph))
	}
	b.markRegistered(names)
	missing, err := graphResults(jobs, calls, chunks, errs)
	if err != nil {
		return b.wrap(err, "enqueue")
	}
	if b.cluster {
		return b.acrossSlots(ctx, jobs, missing, errs)
	}
	return nil
}

// graphResults reads the replies of graphCalls into errs, and sets the state of the jobs
// stored waiting or canceled. It returns the indexes of the jobs refused because a parent or
// their batch was not found, with that parent's or batch's ID.
func graphResults(jobs []*queue.Job, calls []*evalCall, chunks [][]int, errs []error) (map[int]string, error) {
	missing := map[int]string{}
	for c, call := range calls {
		reply, err := call.cmd.Slice()
		if err != nil || len(reply) != 2*len(chunks[c]) {
			return nil, fmt.Errorf("unexpected reply %v (%v)", call.cmd.Val(), err)
		}
		for k, i := range chunks[c] {
			code, _ := reply[2*k].(int64)
			about, _ := reply[2*k+1].(string)
			switch code {
			case 1:
				errs[i] = queue.ErrDuplicateJob
			case 2:
				errs[i] = queue.ErrDuplicateUnique
			case 3:
				errs[i] = fmt.Errorf("%w: %s", queue.ErrParentNotFound, about)
				missing[i] = about
			case 4:
				errs[i] = fmt.Errorf("%w: %s", queue.ErrBatchNotFound, about)
				missing[i] = about
			case 5:
				errs[i] = fmt.Errorf("%w: %s", queue.ErrBatchSealed, about)
			case 6:
				jobs[i].State = queue.StateWaiting
			case 7:
				jobs[i].State = queue.StateCanceled
			}
		}
	}
	return missing, nil
}

// acrossSlots tells, on a cluster, the jobs refused because a parent or their batch was not
// on their queue (missing, from graphResults) whether it is on another queue: that job gets
// an error wrapping queue.ErrUnsupported that names both queues, instead of the not found.
func (b *Broker) acrossSlots(ctx context.Context, jobs []*queue.Job, missing map[int]string, errs []error) error {
	for i, about := range missing {
		j := jobs[i]
		var q, why string
		var err error
		if errors.Is(errs[i], queue.ErrParentNotFound) {
			q, err = b.locate(ctx, about)
			why = fmt.Sprintf("job %s on queue %s depends on job %s on queue %s: on Redis Cluster a job's parents must be on its own queue (each queue is in one hash slot)",
				j.ID, j.Queue, about, q)
		} else {
			_, q, err = b.locateBatch(ctx, about)
			why = fmt.Sprintf("job %s on queue %s cannot join batch %s of queue %s: on Redis Cluster a batch's jobs must be on its queue (each queue is in one hash slot; see queue.BatchQueue)",
				j.ID, j.Queue, about, q)
		}
		switch {
		case errors.Is(err, queue.ErrJobNotFound), errors.Is(err, queue.ErrBatchNotFound):
		case err != nil:
			return b.wrap(err, "enqueue job %s: look for %s", j.ID, about)
		default:
			errs[i] = fmt.Errorf("%w: %s", queue.ErrUnsupported, why)
		}
	}
	return nil
}

// batch is the key of batch id of queue q; legacyBatch that of a batch opened by a version
// before batches belonged to a queue (read, never written).
func (k keys) batch(q, id string) string    { return k.base(q) + "batch:" + id }
func (k keys) legacyBatch(id string) string { return k.prefix + ":batch:" + id }

// locateBatch returns the key and the queue ("" for a legacy batch) of batch id: the first
// known queue, by name, that has it (batch IDs are unique per queue), else its legacy key, or
// ErrBatchNotFound; in one pipelined round trip after the queues' names.
func (b *Broker) locateBatch(ctx context.Context, id string) (key, q string, err error) {
	queues, err := b.queueNames(ctx)
	if err != nil {
		return "", "", err
	}
	keys := make([]string, 0, len(queues)+1)
	for _, q := range queues {
		keys = append(keys, b.keys.batch(q, id))
	}
	keys, queues = append(keys, b.keys.legacyBatch(id)), append(queues, "")
	cmds := make([]*redis.IntCmd, len(keys))
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Exists(ctx, k)
		}
		return nil
	})
	if err != nil {
		return "", "", err
	}
	for i, c := range cmds {
		if c.Val() == 1 {
			return keys[i], queues[i], nil
		}
	}
	return "", "", queue.ErrBatchNotFound
}

// OpenBatch stores a new open batch with its callbacks, with the keys of its queue
// (spec.Queue, DefaultQueue when empty), which it registers. An ID that any queue's batch
// has is refused (ErrDuplicateBatch). On one server the script checks every queue; on a
// cluster it can check its own queue only, so the others are checked before it, and two opens
// of one ID on two queues at once may both succeed there.
func (b *Broker) OpenBatch(ctx context.Context, spec queue.BatchSpec) error {
	q := cmp.Or(spec.Queue, queue.DefaultQueue)
	if err := checkQueue(q); err != nil {
		return fmt.Errorf("redisbroker: open batch %s: %w", spec.ID, err)
	}
	for _, j := range []*queue.Job{spec.OnComplete, spec.OnSuccess} {
		if j == nil {
			continue
		}
		if err := checkJob(j); err != nil {
			return fmt.Errorf("redisbroker: open batch %s: callback %s: %w", spec.ID, j.ID, err)
		}
		if b.cluster && j.Queue != q {
			return fmt.Errorf("redisbroker: open batch %s: %w: batch %s is on queue %s and its callback %s on queue %s: on Redis Cluster a batch's callbacks must be on its queue (each queue is in one hash slot; see queue.BatchQueue)",
				spec.ID, queue.ErrUnsupported, spec.ID, q, j.ID, j.Queue)
		}
	}
	here := ""
	if b.cluster {
		here = "1"
		switch _, _, err := b.locateBatch(ctx, spec.ID); {
		case err == nil:
			return fmt.Errorf("redisbroker: open batch %s: %w", spec.ID, queue.ErrDuplicateBatch)
		case !errors.Is(err, queue.ErrBatchNotFound):
			return b.wrap(err, "open batch %s", spec.ID)
		}
	}
	open := &evalCall{script: b.s.openBatch, keys: []string{b.keys.batch(q, spec.ID)}, args: []any{spec.CreatedAt.UnixMilli(),
		spec.Keep.Milliseconds(), callbackSpec(spec.OnComplete), callbackSpec(spec.OnSuccess), spec.CreatedAt.UnixNano(),
		b.keys.prefix, spec.ID, here}}
	err := b.pipelined(ctx, []*evalCall{open}, func(p redis.Pipeliner) { p.SAdd(ctx, b.keys.queues(), q) })
	if err != nil {
		return b.wrap(err, "open batch %s on queue %s", spec.ID, q)
	}
	if code, _ := open.cmd.Int(); code == 1 {
		return fmt.Errorf("redisbroker: open batch %s: %w", spec.ID, queue.ErrDuplicateBatch)
	}
	return nil
}

// callbackSpec is a callback job as the batch keeps it: "<queue>\n<id>\n<priority>\n<packed>".
func callbackSpec(j *queue.Job) string {
	if j == nil {
		return ""
	}
	return j.Queue + "\n" + j.ID + "\n" + strconv.Itoa(j.Priority) + "\n" + string(appendPacked(nil, j))
}

// SealBatch closes the batch to new jobs and enqueues its callbacks if it has finished.
func (b *Broker) SealBatch(ctx context.Context, id string) error {
	key, _, err := b.locateBatch(ctx, id)
	if errors.Is(err, queue.ErrBatchNotFound) {
		return fmt.Errorf("redisbroker: seal batch %s: %w", id, err)
	}
	if err != nil {
		return b.wrap(err, "seal batch %s", id)
	}
	code, err := b.run(ctx, b.s.sealBatch, []string{key}, b.keys.prefix).Int()
	if err != nil {
		return b.wrap(err, "seal batch %s", id)
	}
	if code == 1 {
		return fmt.Errorf("redisbroker: seal batch %s: %w", id, queue.ErrBatchNotFound)
	}
	return nil
}

// Batch returns the batch's status.
func (b *Broker) Batch(ctx context.Context, id string) (queue.BatchStatus, error) {
	key, _, err := b.locateBatch(ctx, id)
	var h map[string]string
	if err == nil {
		h, err = b.rdb.HGetAll(ctx, key).Result()
	}
	if err == nil && len(h) == 0 { // expired meanwhile
		err = queue.ErrBatchNotFound
	}
	if errors.Is(err, queue.ErrBatchNotFound) {
		return queue.BatchStatus{}, fmt.Errorf("redisbroker: batch %s: %w", id, err)
	}
	if err != nil {
		return queue.BatchStatus{}, b.wrap(err, "batch %s", id)
	}
	return batchStatus(id, h), nil
}

// batchStatus reads the hash h of batch id.
func batchStatus(id string, h map[string]string) queue.BatchStatus {
	n := func(f string) int64 { v, _ := strconv.ParseInt(h[f], 10, 64); return v }
	s := queue.BatchStatus{
		ID: id, Sealed: h["sealed"] == "1", Total: n("total"), Completed: n("completed"), Dead: n("dead"),
		Canceled: n("canceled"), OnComplete: callbackID(h["oc"]), OnSuccess: callbackID(h["os"]),
		CreatedAt: time.UnixMilli(n("created")),
	}
	s.Pending = s.Total - s.Completed - s.Dead - s.Canceled
	if f := n("fin"); f > 0 {
		s.FinishedAt = time.UnixMilli(f)
	}
	return s
}

// callbackID is the job ID in a callbackSpec.
func callbackID(spec string) string {
	_, rest, _ := strings.Cut(spec, "\n")
	id, _, _ := strings.Cut(rest, "\n")
	return id
}
