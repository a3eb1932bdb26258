package redisbroker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// splitGraph returns the indexes of the jobs without parents or batch (the enqueue script's)
// and of the others (enqueuegraph.lua's), each in order.
func splitGraph(jobs []*queue.Job) (plain, graph []int) {
	plain = make([]int, 0, len(jobs))
	for i, j := range jobs {
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
	for len(graph) > 0 {
		q := jobs[graph[0]].Queue
		n := 1
		for n < len(graph) && n < enqueueChunk && jobs[graph[n]].Queue == q {
			n++
		}
		args := []any{b.keys.prefix}
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
// sets their errors in errs.
func (b *Broker) enqueueGraph(ctx context.Context, jobs []*queue.Job, graph []int, errs []error) error {
	if len(graph) == 0 {
		return nil
	}
	if b.cluster {
		for _, i := range graph {
			errs[i] = errClusterGraph
		}
		return nil
	}
	calls, chunks := b.graphCalls(jobs, graph)
	if err := b.acknowledged(ctx, calls, nil); err != nil {
		return b.wrap(err, "enqueue %d jobs with parents or batch", len(graph))
	}
	if err := graphResults(jobs, calls, chunks, errs); err != nil {
		return b.wrap(err, "enqueue")
	}
	return nil
}

// graphResults reads the replies of graphCalls into errs, and sets the state of the jobs
// stored waiting or canceled.
func graphResults(jobs []*queue.Job, calls []*evalCall, chunks [][]int, errs []error) error {
	for c, call := range calls {
		reply, err := call.cmd.Slice()
		if err != nil || len(reply) != 2*len(chunks[c]) {
			return fmt.Errorf("unexpected reply %v (%v)", call.cmd.Val(), err)
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
			case 4:
				errs[i] = fmt.Errorf("%w: %s", queue.ErrBatchNotFound, about)
			case 5:
				errs[i] = fmt.Errorf("%w: %s", queue.ErrBatchSealed, about)
			case 6:
				jobs[i].State = queue.StateWaiting
			case 7:
				jobs[i].State = queue.StateCanceled
			}
		}
	}
	return nil
}

func (k keys) batch(id string) string { return k.prefix + ":batch:" + id }

// errClusterGraph refuses dependencies and batches on Redis Cluster: the script that records
// a job's outcome would touch its children's and its batch's keys, in other slots.
var errClusterGraph = fmt.Errorf("%w: dependencies and batches on Redis Cluster", queue.ErrUnsupported)

// OpenBatch stores a new open batch with its callbacks.
func (b *Broker) OpenBatch(ctx context.Context, spec queue.BatchSpec) error {
	if b.cluster {
		return fmt.Errorf("redisbroker: open batch %s: %w", spec.ID, errClusterGraph)
	}
	for _, j := range []*queue.Job{spec.OnComplete, spec.OnSuccess} {
		if j == nil {
			continue
		}
		if err := checkJob(j); err != nil {
			return fmt.Errorf("redisbroker: open batch %s: callback %s: %w", spec.ID, j.ID, err)
		}
	}
	code, err := b.run(ctx, b.s.openBatch, []string{b.keys.batch(spec.ID)}, spec.CreatedAt.UnixMilli(),
		spec.Keep.Milliseconds(), callbackSpec(spec.OnComplete), callbackSpec(spec.OnSuccess)).Int()
	if err != nil {
		return b.wrap(err, "open batch %s", spec.ID)
	}
	if code == 1 {
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
	if b.cluster {
		return fmt.Errorf("redisbroker: seal batch %s: %w", id, errClusterGraph)
	}
	code, err := b.run(ctx, b.s.sealBatch, []string{b.keys.batch(id)}, b.keys.prefix).Int()
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
	if b.cluster {
		return queue.BatchStatus{}, fmt.Errorf("redisbroker: batch %s: %w", id, errClusterGraph)
	}
	h, err := b.rdb.HGetAll(ctx, b.keys.batch(id)).Result()
	if err != nil {
		return queue.BatchStatus{}, b.wrap(err, "batch %s", id)
	}
	if len(h) == 0 {
		return queue.BatchStatus{}, fmt.Errorf("redisbroker: batch %s: %w", id, queue.ErrBatchNotFound)
	}
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
	return s, nil
}

// callbackID is the job ID in a callbackSpec.
func callbackID(spec string) string {
	_, rest, _ := strings.Cut(spec, "\n")
	id, _, _ := strings.Cut(rest, "\n")
	return id
}
