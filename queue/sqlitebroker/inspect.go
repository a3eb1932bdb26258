package sqlitebroker

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// Get returns the job with that ID, or ErrJobNotFound.
func (b *Broker) Get(ctx context.Context, id string) (*queue.Job, error) {
	j, err := scanJob(b.rstmt["get-job"].QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlitebroker: get job %s: %w", id, queue.ErrJobNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitebroker: get job %s from %s: %w", id, b.path, err)
	}
	return j, nil
}

// List returns jobs of a queue in a state in their queue order (oldest first; pending jobs
// highest priority first), skipping offset and returning at most limit. It walks the
// (queue, state, ord) index (pending: jobs_pending) to the offset
// and reads whole rows for the returned jobs only.
func (b *Broker) List(ctx context.Context, q string, st queue.State, offset, limit int) ([]*queue.Job, error) {
	if _, err := queue.ParseState(string(st)); err != nil {
		return nil, fmt.Errorf("sqlitebroker: list %s jobs of %s: %w", st, q, err)
	}
	if limit <= 0 {
		return nil, nil
	}
	offset = max(offset, 0)
	var rows *sql.Rows
	var err error
	if st == queue.StatePending { // highest priority first, as Fetch takes them
		rows, err = b.rstmt["list-pending"].QueryContext(ctx, q, limit, offset)
	} else {
		rows, err = b.rstmt["list-jobs"].QueryContext(ctx, q, string(st), limit, offset)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitebroker: list %s jobs of %s in %s: %w", st, q, b.path, err)
	}
	defer rows.Close()
	jobs := make([]*queue.Job, 0, min(limit, 1000))
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlitebroker: list %s jobs of %s: %w", st, q, err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitebroker: list %s jobs of %s: %w", st, q, err)
	}
	return jobs, nil
}

// Queues returns the statistics of every known queue, sorted by name, read from one snapshot.
// Counts come from the counts table the triggers keep, so the cost does not grow with the
// number of jobs.
func (b *Broker) Queues(ctx context.Context) ([]queue.QueueStats, error) {
	tx, err := b.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlitebroker: queues of %s: %w", b.path, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	stats, err := b.queueStats(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("sqlitebroker: queues of %s: %w", b.path, err)
	}
	return stats, nil
}

func (b *Broker) queueStats(ctx context.Context, tx *sql.Tx) ([]queue.QueueStats, error) {
	rows, err := tx.StmtContext(ctx, b.rstmt["list-queues"]).QueryContext(ctx)
	if err != nil {
		return nil, err
	}
	var stats []queue.QueueStats
	index := make(map[string]int)
	for rows.Next() {
		var s queue.QueueStats
		var limits sql.NullString
		if err := rows.Scan(&s.Name, &s.Paused, &s.Processed, &s.Failed, &limits); err != nil {
			rows.Close()
			return nil, err
		}
		if s.Limits, err = decodeLimits(limits); err != nil {
			rows.Close()
			return nil, fmt.Errorf("queue %s: %w", s.Name, err)
		}
		index[s.Name] = len(stats)
		stats = append(stats, s)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	if err := addCounts(ctx, tx.StmtContext(ctx, b.rstmt["list-counts"]), stats, index); err != nil {
		return nil, err
	}
	oldest := tx.StmtContext(ctx, b.rstmt["oldest-pending"])
	for i := range stats {
		if stats[i].Pending == 0 {
			continue
		}
		var at int64
		err := oldest.QueryRowContext(ctx, stats[i].Name).Scan(&at)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		stats[i].OldestPending = fromNanos(at)
	}
	return stats, nil
}

func addCounts(ctx context.Context, st *sql.Stmt, stats []queue.QueueStats, index map[string]int) error {
	rows, err := st.QueryContext(ctx)
	if err != nil {
		return err
	}
	for rows.Next() {
		var q, state string
		var n int64
		if err := rows.Scan(&q, &state, &n); err != nil {
			rows.Close()
			return err
		}
		i, ok := index[q]
		if !ok {
			continue
		}
		if p, ok := strings.CutPrefix(state, "pending:"); ok {
			addPending(&stats[i], p, n)
			continue
		}
		if queue.State(state) == queue.StatePending {
			addPending(&stats[i], "0", n)
			continue
		}
		setCount(&stats[i], queue.State(state), n)
	}
	return closeRows(rows)
}

// addPending adds n pending jobs of priority p: a count row 'pending:<p>', or 'pending' for
// the default priority 0 (schema_009.sql).
func addPending(s *queue.QueueStats, p string, n int64) {
	prio, err := strconv.Atoi(p)
	if err != nil || n <= 0 {
		return
	}
	s.Pending += n
	if s.PendingByPriority == nil {
		s.PendingByPriority = map[int]int64{}
	}
	s.PendingByPriority[prio] = n
}

// setCount records the count of a state other than pending (addPending).
func setCount(s *queue.QueueStats, st queue.State, n int64) {
	switch st {
	case queue.StateActive:
		s.Active = n
	case queue.StateScheduled:
		s.Scheduled = n
	case queue.StateRetry:
		s.Retry = n
	case queue.StateDead:
		s.Dead = n
	case queue.StateCompleted:
		s.Completed = n
	case queue.StateCanceled:
		s.Canceled = n
	case queue.StateWaiting:
		s.Waiting = n
	}
}

func closeRows(rows *sql.Rows) error {
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}

// Workers returns the workers whose last heartbeat is recent (within twice the lease they
// gave), sorted by ID.
func (b *Broker) Workers(ctx context.Context) ([]queue.WorkerInfo, error) {
	rows, err := b.rstmt["list-workers"].QueryContext(ctx, time.Now().UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sqlitebroker: workers in %s: %w", b.path, err)
	}
	defer rows.Close()
	var workers []queue.WorkerInfo
	for rows.Next() {
		var info string
		var hb int64
		if err := rows.Scan(&info, &hb); err != nil {
			return nil, fmt.Errorf("sqlitebroker: workers in %s: %w", b.path, err)
		}
		var w queue.WorkerInfo
		if err := json.Unmarshal([]byte(info), &w); err != nil {
			return nil, fmt.Errorf("sqlitebroker: workers in %s: %w", b.path, err)
		}
		w.Heartbeat = fromNanos(hb)
		workers = append(workers, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitebroker: workers in %s: %w", b.path, err)
	}
	return workers, nil
}
