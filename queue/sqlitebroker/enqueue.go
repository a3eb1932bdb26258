package sqlitebroker

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// Enqueue stores new jobs in one transaction. A job whose ID exists gets ErrDuplicateJob; a
// job whose unique key a live job of its queue holds gets ErrDuplicateUnique; neither changes
// anything. Waiting Fetch calls of this process wake at once.
func (b *Broker) Enqueue(ctx context.Context, jobs []*queue.Job) ([]error, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	if err := checkNew(jobs); err != nil {
		return nil, err
	}
	errs := make([]error, len(jobs))
	added := 0
	err := b.write(ctx, func(tx *wtx) error {
		var err error
		added, err = enqueueIn(tx, jobs, errs, make(map[string]bool, 1))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitebroker: enqueue %d jobs in %s: %w", len(jobs), b.path, err)
	}
	if added > 0 {
		b.wake.broadcast()
	}
	return errs, nil
}

// checkNew refuses jobs Enqueue cannot store: not pending or scheduled, or without id or queue.
func checkNew(jobs []*queue.Job) error {
	for _, j := range jobs {
		if j.State != queue.StatePending && j.State != queue.StateScheduled {
			return fmt.Errorf("sqlitebroker: enqueue %s: state %q (want pending or scheduled)", j.ID, j.State)
		}
		if j.ID == "" || j.Queue == "" {
			return fmt.Errorf("sqlitebroker: enqueue: job without id or queue (id %q, queue %q)", j.ID, j.Queue)
		}
	}
	return nil
}

// enqueueIn stores jobs in tx, sets each one's own error (a duplicate) in errs and returns
// how many it stored; err is a failure of the transaction. seen holds the queues known to
// exist in tx (ensured here, then added).
func enqueueIn(tx *wtx, jobs []*queue.Job, errs []error, seen map[string]bool) (added int, err error) {
	now := time.Now().UnixNano()
	for _, j := range jobs {
		if !seen[j.Queue] {
			seen[j.Queue] = true
			if _, err := tx.exec("ensure-queue", j.Queue); err != nil {
				return 0, err
			}
		}
	}
	// Jobs without unique key, parents or batch go in by runs of consecutive ones, one
	// statement each; any other job goes alone, after the run before it (so that of two jobs
	// with one ID the first is stored).
	var run []int
	flush := func() error {
		n, err := insertRun(tx, jobs, run, errs, now)
		added += n
		run = run[:0]
		return err
	}
	for i, j := range jobs {
		if plain(j) {
			if run = append(run, i); len(run) == maxRun {
				if err := flush(); err != nil {
					return added, err
				}
			}
			continue
		}
		if err := flush(); err != nil {
			return added, err
		}
		insert := insertJob
		if len(j.DependsOn) > 0 || j.Batch != "" {
			insert = insertGraphJob
		}
		e, err := insert(tx, j, now)
		if err != nil {
			return added, err
		}
		if errs[i] = e; e == nil {
			added++
		}
	}
	return added, flush()
}

// plain reports whether j goes in with insert-jobs: no unique key, parents or batch.
func plain(j *queue.Job) bool { return j.UniqueKey == "" && len(j.DependsOn) == 0 && j.Batch == "" }

// maxRun bounds the jobs one insert-jobs statement stores.
const maxRun = 1000

// insertRun stores the jobs at indexes run (none has a unique key) with one statement, sets
// ErrDuplicateJob in errs for those whose ID exists, and returns how many it stored.
func insertRun(tx *wtx, jobs []*queue.Job, run []int, errs []error, now int64) (int, error) {
	if len(run) == 0 {
		return 0, nil
	}
	rows := make([][17]any, len(run))
	for k, i := range run {
		j := jobs[i]
		ord, due := enqueuePosition(j, now)
		var payload any
		if len(j.Payload) > 0 {
			payload = hex.EncodeToString(j.Payload)
		}
		rows[k] = [17]any{j.ID, j.Queue, j.Type, payload, string(j.State), ord, due, j.MaxRetries,
			int64(j.Timeout), nanos(j.RunAt), int64(j.UniqueFor), int64(j.ResultTTL), nanos(j.EnqueuedAt),
			metadataJSON(j.Metadata), j.Priority, nanos(j.Deadline), nullString(j.RateKey)}
	}
	data, err := json.Marshal(rows)
	if err != nil {
		return 0, err
	}
	res, err := tx.query("insert-jobs", string(data))
	if err != nil {
		return 0, err
	}
	defer res.Close()
	stored := make(map[string]bool, len(run))
	for res.Next() {
		var id string
		if err := res.Scan(&id); err != nil {
			return 0, err
		}
		stored[id] = true
	}
	if err := res.Err(); err != nil {
		return 0, err
	}
	// A stored ID is the first job with that ID in the run; any other is a duplicate.
	for _, i := range run {
		id := jobs[i].ID
		if stored[id] {
			delete(stored, id)
			continue
		}
		errs[i] = queue.ErrDuplicateJob
	}
	return len(run) - countErrs(errs, run), nil
}

func countErrs(errs []error, run []int) int {
	n := 0
	for _, i := range run {
		if errs[i] != nil {
			n++
		}
	}
	return n
}

// insertJob stores one job; its error is the job's own (a duplicate), the returned err a
// failure of the transaction.
func insertJob(tx *wtx, j *queue.Job, now int64) (jobErr, err error) {
	if j.UniqueKey != "" {
		found, err := tx.queryRow("job-exists", []any{j.ID}, new(int))
		if err != nil || found {
			return errIf(found, queue.ErrDuplicateJob), err
		}
		if jobErr, err := holdUnique(tx, j, now); jobErr != nil || err != nil {
			return jobErr, err
		}
	}
	ord, due := enqueuePosition(j, now)
	n, err := tx.exec("insert-job",
		j.ID, j.Queue, j.Type, nullBytes(j.Payload), string(j.State), ord, due,
		j.MaxRetries, int64(j.Timeout), nanos(j.RunAt), nullString(j.UniqueKey),
		int64(j.UniqueFor), int64(j.ResultTTL), nanos(j.EnqueuedAt), metadataJSON(j.Metadata),
		j.Priority, nanos(j.Deadline), nullString(j.RateKey))
	if err != nil {
		return nil, err
	}
	return errIf(n == 0, queue.ErrDuplicateJob), nil
}

// holdUnique takes the unique key of j (which has one), or returns ErrDuplicateUnique.
func holdUnique(tx *wtx, j *queue.Job, now int64) (jobErr, err error) {
	until := int64(farFuture) // held until the job finishes
	if j.UniqueFor > 0 {
		until = nanos(j.EnqueuedAt) + int64(j.UniqueFor)
		if j.EnqueuedAt.IsZero() {
			until = now + int64(j.UniqueFor)
		}
	}
	n, err := tx.exec("hold-unique", j.Queue, j.UniqueKey, j.ID, until, now)
	if err != nil || n == 0 {
		return errIf(n == 0, queue.ErrDuplicateUnique), err
	}
	return nil, nil
}

// enqueuePosition is a new job's ord and due: a scheduled job's are its run-at; a pending
// job's ord is now and its due its deadline (nil for none: never).
func enqueuePosition(j *queue.Job, now int64) (ord int64, due any) {
	switch {
	case j.State == queue.StateScheduled:
		return nanos(j.RunAt), nanos(j.RunAt)
	case !j.Deadline.IsZero():
		return now, nanos(j.Deadline)
	}
	return now, nil
}

func errIf(cond bool, err error) error {
	if cond {
		return err
	}
	return nil
}
