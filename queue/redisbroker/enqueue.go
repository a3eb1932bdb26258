package redisbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/queue"
)

// enqueueChunk is the number of jobs stored by one script call; the chunks of one Enqueue
// are pipelined, so that a big batch costs a few round trips and never blocks Redis long.
const enqueueChunk = 500

// Enqueue stores new jobs: one script call per chunk of jobs of a queue, all chunks and the
// registration of their queues in one pipeline. A few jobs without parents or batch share the
// pipeline of the Enqueue calls made at the same time (gather.go).
func (b *Broker) Enqueue(ctx context.Context, jobs []*queue.Job) ([]error, error) {
	if len(jobs) == 0 {
		return []error{}, nil
	}
	for i, j := range jobs {
		if err := checkJob(j); err != nil {
			return nil, fmt.Errorf("redisbroker: enqueue: job %d (%s): %w", i, j.ID, err)
		}
	}
	if gatherable(jobs) {
		return b.enqueueGathered(ctx, jobs)
	}
	return b.enqueueNow(ctx, jobs)
}

// enqueueNow stores jobs, checked (checkJob), in one pipeline of its own.
func (b *Broker) enqueueNow(ctx context.Context, jobs []*queue.Job) ([]error, error) {
	errs := make([]error, len(jobs))
	repeats(jobs, errs)
	plain, graph := splitGraph(jobs, errs)
	order, byQueue := groupByQueue(len(plain), func(i int) string { return jobs[plain[i]].Queue })
	var calls []*evalCall
	var chunks [][]int // the job indexes of each call
	packed := make([]packedArg, len(jobs))
	for _, q := range order {
		idx := byQueue[q]
		for k, i := range idx {
			idx[k] = plain[i]
		}
		for len(idx) > 0 {
			n := min(len(idx), enqueueChunk)
			args := make([]any, 0, 2*n)
			buf := new([]byte) // the chunk's packing buffer
			for _, i := range idx[:n] {
				packed[i] = packedArg{job: jobs[i], buf: buf}
				args = appendPlainArgs(args, jobs[i], &packed[i])
			}
			calls = append(calls, &evalCall{script: b.s.enqueue, keys: []string{b.keys.base(q)}, args: args})
			chunks = append(chunks, idx[:n])
			idx = idx[n:]
		}
	}
	names := b.unregistered(order)
	var register func(redis.Pipeliner)
	if len(names) > 0 {
		register = func(p redis.Pipeliner) { p.SAdd(ctx, b.keys.queues(), names...) }
	}
	// Queues are registered before the jobs with parents look for them (enqueueGraph).
	if len(calls) > 0 || register != nil {
		if err := b.acknowledged(ctx, calls, register); err != nil {
			return nil, b.wrap(err, "enqueue %d jobs on queues %v", len(jobs), order)
		}
	}
	b.markRegistered(names)
	if err := b.enqueueGraph(ctx, jobs, graph, errs); err != nil {
		return nil, err
	}
	for c, call := range calls {
		if err := refused(call.cmd, chunks[c], errs); err != nil {
			return nil, b.wrap(err, "enqueue")
		}
	}
	return errs, nil
}

// repeats refuses in errs each job whose ID came earlier in jobs on the same queue, when
// jobs hold two alike: it is a duplicate of that one, whichever script calls the two fall
// into. (A script tells a repeat only within its own call; a later call would take the job
// an earlier call of this Enqueue stored, with the very same fields, for its own, resent
// after a lost reply.) Jobs alike share their enqueue time, so when the times rise from job
// to job, as a Client's do, there is nothing to look for.
func repeats(jobs []*queue.Job, errs []error) {
	if risingTimes(jobs) {
		return
	}
	type jobKey struct{ queue, id string }
	seen := make(map[jobKey]struct{}, len(jobs))
	for i, j := range jobs {
		k := jobKey{j.Queue, j.ID}
		if _, ok := seen[k]; ok {
			errs[i] = queue.ErrDuplicateJob
			continue
		}
		seen[k] = struct{}{}
	}
}

// risingTimes reports whether each job's enqueue time, as stored, is after the one before.
func risingTimes(jobs []*queue.Job) bool {
	for i := 1; i < len(jobs); i++ {
		if jobs[i].EnqueuedAt.UnixNano() <= jobs[i-1].EnqueuedAt.UnixNano() {
			return false
		}
	}
	return true
}

// errNotAJob refuses a job whose key holds a value of another type, which the broker did not
// write (WRONGTYPE).
var errNotAJob = errors.New("redisbroker: the job's key holds a value of another type (WRONGTYPE), not a job: something else writes under the broker's prefix")

// refused sets the errors of the jobs that enqueue.lua's reply says it did not store (pairs of
// a position among the jobs of its call, idx, and a code).
func refused(cmd *redis.Cmd, idx []int, errs []error) error {
	pairs, err := cmd.Int64Slice()
	if err != nil || len(pairs)%2 != 0 {
		return fmt.Errorf("unexpected reply %v (%v)", cmd.Val(), err)
	}
	for k := 0; k < len(pairs); k += 2 {
		pos, code := pairs[k]-1, pairs[k+1]
		if pos < 0 || pos >= int64(len(idx)) || code < 1 || code > 3 {
			return fmt.Errorf("unexpected reply %v", cmd.Val())
		}
		errs[idx[pos]] = [...]error{queue.ErrDuplicateJob, queue.ErrDuplicateUnique, errNotAJob}[code-1]
	}
	return nil
}

// appendPlainArgs appends the enqueue.lua arguments of job j: its ID and packed fields for a
// job pending now without unique key, priority or deadline, else "" and the 7 values of
// appendEnqueueArgs. Both are pointers, which an interface holds without an allocation.
func appendPlainArgs(args []any, j *queue.Job, packed *packedArg) []any {
	if j.UniqueKey == "" && j.Priority == 0 && j.Deadline.IsZero() && !scheduled(j) {
		return append(args, &j.ID, packed)
	}
	return appendEnqueueArgs(append(args, ""), j, packed)
}

// packedArg is a job's packed fields (appendPacked) as a script argument, made when go-redis
// writes the argument (MarshalBinary), into the buffer of the job's chunk, which go-redis
// copies at once: the fields need no memory of their own, and they are made as the pipeline
// goes out, so that Redis may run one chunk while the next is still being made. One command's
// arguments are written by one goroutine at a time, so a chunk's jobs can share the buffer.
// A *packedArg in an interface costs no allocation.
type packedArg struct {
	job *queue.Job
	buf *[]byte
}

// MarshalBinary returns the job's packed fields.
func (p *packedArg) MarshalBinary() ([]byte, error) {
	*p.buf = appendPacked((*p.buf)[:0], p.job)
	return *p.buf, nil
}

// scheduled reports whether new job j waits for its run-at.
func scheduled(j *queue.Job) bool { return j.State == queue.StateScheduled && !j.RunAt.IsZero() }

// appendEnqueueArgs appends 7 script arguments of job j: id, packed fields, run-at, unique
// key, unique-for, priority and deadline (see enqueue.lua and enqueuegraph.lua).
func appendEnqueueArgs(args []any, j *queue.Job, packed any) []any {
	var runAt, deadline int64
	if scheduled(j) {
		runAt = j.RunAt.UnixMilli()
	}
	if !j.Deadline.IsZero() {
		deadline = max(j.Deadline.UnixMilli(), 1)
	}
	return append(args, j.ID, packed, strconv.FormatInt(runAt, 10), j.UniqueKey,
		strconv.FormatInt(j.UniqueFor.Milliseconds(), 10), strconv.Itoa(j.Priority),
		strconv.FormatInt(deadline, 10))
}

// checkJob rejects a job the broker cannot store.
func checkJob(j *queue.Job) error {
	if err := checkQueue(j.Queue); err != nil {
		return err
	}
	switch {
	case j.ID == "":
		return fmt.Errorf("empty job id")
	case j.State != queue.StatePending && j.State != queue.StateScheduled:
		return fmt.Errorf("new job in state %q, want pending or scheduled", j.State)
	case len(j.Payload) > 0 && !json.Valid(j.Payload):
		return fmt.Errorf("payload is not valid JSON")
	case j.Priority < queue.MinPriority || j.Priority > queue.MaxPriority:
		return fmt.Errorf("priority %d is out of range (%d to %d)", j.Priority, queue.MinPriority, queue.MaxPriority)
	case j.UniqueFor > 0 && j.UniqueFor.Milliseconds() == 0:
		return fmt.Errorf("unique-for %s is under a millisecond", j.UniqueFor)
	}
	return nil
}

// groupByQueue returns the distinct queues of n items in order of first appearance and the
// item indexes of each.
func groupByQueue(n int, queueOf func(int) string) ([]string, map[string][]int) {
	var order []string
	by := make(map[string][]int)
	for i := range n {
		q := queueOf(i)
		if _, ok := by[q]; !ok {
			order = append(order, q)
		}
		by[q] = append(by[q], i)
	}
	return order, by
}

// registerEvery is how often a broker adds a queue it enqueues to the set of queues again,
// in case another process removed the queue meanwhile.
const registerEvery = 10 * time.Second

// unregistered returns the queues this broker has not added to the set of queues lately.
func (b *Broker) unregistered(queues []string) []any {
	var names []any
	now := time.Now()
	for _, q := range queues {
		if at, ok := b.registered.Load(q); !ok || now.Sub(at.(time.Time)) > registerEvery {
			names = append(names, q)
		}
	}
	return names
}

func (b *Broker) markRegistered(names []any) {
	now := time.Now()
	for _, q := range names {
		b.registered.Store(q.(string), now)
	}
}
