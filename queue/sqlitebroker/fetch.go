package sqlitebroker

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync/atomic"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// Fetch leases up to req.Max pending jobs, taking from req.Queues in order and skipping paused
// queues. In the same transaction it first makes due scheduled and retry jobs pending,
// recovers active jobs whose lease ran out and deletes expired results (a bounded number of
// each). With nothing to take it waits for an enqueue in this process, a write by another
// process (seen within PollInterval), the next due time or req.Wait, whichever comes first.
func (b *Broker) Fetch(ctx context.Context, req queue.FetchRequest) ([]*queue.Job, error) {
	if len(req.Queues) == 0 {
		return nil, errors.New("sqlitebroker: fetch: no queues given")
	}
	if req.Max <= 0 {
		req.Max = 1
	}
	if req.Lease <= 0 {
		req.Lease = defaultLease
	}
	deadline := time.Now().Add(req.Wait)
	for {
		wake := b.wake.wait()
		jobs, next, err := b.fetchOnce(ctx, req)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("sqlitebroker: fetch from %v in %s: %w", req.Queues, b.path, err)
		}
		if len(jobs) > 0 {
			return jobs, nil
		}
		now := time.Now()
		if !now.Before(deadline) {
			return jobs, nil
		}
		until := deadline
		if next != 0 && next < until.UnixNano() {
			until = time.Unix(0, next)
		}
		if err := b.waitFor(ctx, wake, until.Sub(now)); err != nil {
			return nil, err
		}
	}
}

// waitFor blocks until wake is closed, d has elapsed, ctx is done or the broker closes.
func (b *Broker) waitFor(ctx context.Context, wake <-chan struct{}, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	return b.block(ctx, wake, d, &b.waiters)
}

// block is waitFor and waitWritten: it waits on ch, counted in waiting while it does.
func (b *Broker) block(ctx context.Context, ch <-chan struct{}, d time.Duration, waiting *atomic.Int64) error {
	waiting.Add(1)
	defer waiting.Add(-1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.done:
		return errClosed
	}
}

// fetchOnce runs one Fetch transaction: housekeeping, then taking. next is the earliest due
// time left (Unix nanoseconds, 0 for none), when housekeeping may have work again.
func (b *Broker) fetchOnce(ctx context.Context, req queue.FetchRequest) (jobs []*queue.Job, next int64, err error) {
	var recovered []recoveredJob
	err = b.write(ctx, func(tx *wtx) error {
		now := time.Now()
		var err error
		recovered, next, err = b.housekeep(tx, now)
		if err != nil {
			return err
		}
		var slot int64
		jobs, slot, err = take(tx, req, now)
		if slot != 0 && (next == 0 || slot < next) {
			next = slot
		}
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	for _, r := range recovered {
		b.log.Warn("sqlitebroker: lease expired", "job", r.id, "queue", r.queue, "worker", r.worker,
			"attempt", r.attempt, "state", r.state)
	}
	return jobs, next, nil
}

// recoveredJob is an active job whose lease ran out, as housekeeping left it.
type recoveredJob struct {
	id, queue, worker, state string
	attempt                  int
}

// housekeep makes due scheduled and retry jobs pending, recovers expired leases, makes
// pending jobs past their deadline dead and deletes expired results, each bounded by
// housekeepingBatch. It returns the earliest due time left.
func (b *Broker) housekeep(tx *wtx, now time.Time) ([]recoveredJob, int64, error) {
	next, err := minDue(tx)
	if err != nil || next == 0 || next > now.UnixNano() {
		return nil, next, err
	}
	n := now.UnixNano()
	if _, err := tx.exec("promote-due", n, housekeepingBatch); err != nil {
		return nil, 0, err
	}
	recovered, err := b.recoverExpired(tx, now)
	if err != nil {
		return nil, 0, err
	}
	if err := b.expireDeadlines(tx, now); err != nil {
		return nil, 0, err
	}
	if _, err := tx.exec("delete-expired", n, housekeepingBatch); err != nil {
		return nil, 0, err
	}
	next, err = minDue(tx)
	return recovered, next, err
}

func minDue(tx *wtx) (int64, error) {
	var next *int64
	if _, err := tx.queryRow("min-due", nil, &next); err != nil || next == nil {
		return 0, err
	}
	return *next, nil
}

// recoverExpired moves active jobs whose lease ran out back to pending (or to dead after
// their last attempt, or to canceled when that was asked), recording the lost attempt as
// failed.
func (b *Broker) recoverExpired(tx *wtx, now time.Time) ([]recoveredJob, error) {
	at, _ := now.UTC().MarshalText()
	rows, err := tx.query("recover-expired", now.UnixNano(), housekeepingBatch, string(at))
	if err != nil {
		return nil, err
	}
	var recovered []recoveredJob
	for rows.Next() {
		var r recoveredJob
		if err := rows.Scan(&r.id, &r.queue, &r.state, &r.worker, &r.attempt); err != nil {
			rows.Close()
			return nil, err
		}
		recovered = append(recovered, r)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	tally := tallies{}
	for _, r := range recovered {
		tally.add(r.queue, true, r.state == string(queue.StateDead))
	}
	return recovered, tally.apply(tx, b.opts.MaxDead)
}

// expireDeadlines makes the pending jobs whose deadline has passed dead, never started, with
// the error "deadline exceeded", and trims the dead-letter queues that grew.
func (b *Broker) expireDeadlines(tx *wtx, now time.Time) error {
	at, _ := now.UTC().MarshalText()
	rows, err := tx.query("expire-deadlines", now.UnixNano(), housekeepingBatch, string(at))
	if err != nil {
		return err
	}
	grew := map[string]bool{}
	for rows.Next() {
		var q string
		if err := rows.Scan(&q); err != nil {
			rows.Close()
			return err
		}
		grew[q] = true
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for q := range grew {
		if _, err := tx.exec("trim-dead", q, b.opts.MaxDead); err != nil {
			return err
		}
	}
	return nil
}

// counters tallies, per queue, the attempts a transaction finished.
type counters struct {
	processed, failed int64
	dead              bool
}

type tallies map[string]*counters

func (t tallies) add(q string, failed, dead bool) {
	c := t[q]
	if c == nil {
		c = &counters{}
		t[q] = c
	}
	c.processed++
	if failed {
		c.failed++
	}
	c.dead = c.dead || dead
}

// apply adds the tallies to the queues' counters and trims the dead-letter queues that grew.
func (t tallies) apply(tx *wtx, maxDead int) error {
	for q, c := range t {
		if _, err := tx.exec("add-counters", q, c.processed, c.failed); err != nil {
			return err
		}
		if c.dead {
			if _, err := tx.exec("trim-dead", q, maxDead); err != nil {
				return err
			}
		}
	}
	return nil
}

// take leases pending jobs of the request's queues, in the queues' order, skipping paused
// queues and applying their limits. It returns the jobs and the soonest time a job held back
// by a rate limit may start (Unix nanoseconds, 0: none).
func take(tx *wtx, req queue.FetchRequest, now time.Time) ([]*queue.Job, int64, error) {
	var jobs []*queue.Job
	var slot int64
	lease := now.Add(req.Lease).UnixNano()
	for _, q := range req.Queues {
		want := req.Max - len(jobs)
		if want <= 0 {
			break
		}
		got, at, err := takeFrom(tx, q, req.WorkerID, now, lease, want)
		if err != nil {
			return nil, 0, err
		}
		jobs = append(jobs, got...)
		if at != 0 && (slot == 0 || at < slot) {
			slot = at
		}
	}
	return jobs, slot, nil
}

// takeFrom leases up to max pending jobs of one queue, front of the queue first, within the
// queue's limits.
func takeFrom(tx *wtx, q, worker string, now time.Time, lease int64, max int) ([]*queue.Job, int64, error) {
	g, paused, err := queueLimits(tx, q)
	if err != nil || paused {
		return nil, 0, err
	}
	if g != nil {
		return takeLimited(tx, g, q, worker, now, lease, max)
	}
	jobs, err := leaseJobs(tx, "take", now.UnixNano(), worker, lease, q, max)
	return jobs, 0, err
}

// leaseJobs runs a take query (take, take-rows), reads the jobs it leased and adds them to the
// counts.
func leaseJobs(tx *wtx, name string, args ...any) ([]*queue.Job, error) {
	rows, err := tx.query(name, args...)
	if err != nil {
		return nil, err
	}
	jobs, err := scanTaken(rows)
	if err != nil {
		return nil, err
	}
	return jobs, countTaken(tx, jobs)
}

// scanTaken reads the jobs a take query leased, in their queue order.
func scanTaken(rows *sql.Rows) ([]*queue.Job, error) {
	defer rows.Close()
	type positioned struct {
		job        *queue.Job
		ord, rowid int64
	}
	var got []positioned
	for rows.Next() {
		var p positioned
		j, err := scanJob(rows, &p.ord, &p.rowid)
		if err != nil {
			return nil, err
		}
		p.job = j
		got = append(got, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// RETURNING gives no order: restore the queue's (highest priority first).
	sort.Slice(got, func(i, k int) bool {
		if pi, pk := got[i].job.Priority, got[k].job.Priority; pi != pk {
			return pi > pk
		}
		if got[i].ord != got[k].ord {
			return got[i].ord < got[k].ord
		}
		return got[i].rowid < got[k].rowid
	})
	jobs := make([]*queue.Job, len(got))
	for i, p := range got {
		jobs[i] = p.job
	}
	return jobs, nil
}

// farFuture is a time that never comes (Unix nanoseconds).
const farFuture = math.MaxInt64
