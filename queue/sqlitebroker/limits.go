package sqlitebroker

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// maxCandidates bounds the pending jobs of a limited queue one fetch looks at: a backlog of
// more jobs held back by their keys' limits than this holds back the jobs behind it.
const maxCandidates = 10000

// SetLimits stores the queue's limits (the zero value removes them), creating the queue, in
// every process using the file.
func (b *Broker) SetLimits(ctx context.Context, q string, l queue.QueueLimits) error {
	var data any
	if !l.IsZero() {
		raw, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("sqlitebroker: set limits of queue %s: %w", q, err)
		}
		data = string(raw)
	}
	err := b.write(ctx, func(tx *wtx) error {
		_, err := tx.exec("set-limits", q, data)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitebroker: set limits of queue %s in %s: %w", q, b.path, err)
	}
	b.wake.broadcast()
	return nil
}

// Limits returns the queue's limits (zero when none).
func (b *Broker) Limits(ctx context.Context, q string) (queue.QueueLimits, error) {
	var raw sql.NullString
	err := b.rstmt["get-limits"].QueryRowContext(ctx, q).Scan(&raw)
	if err != nil && err != sql.ErrNoRows {
		return queue.QueueLimits{}, fmt.Errorf("sqlitebroker: limits of queue %s in %s: %w", q, b.path, err)
	}
	l, err := decodeLimits(raw)
	if err != nil {
		return queue.QueueLimits{}, fmt.Errorf("sqlitebroker: limits of queue %s: %w", q, err)
	}
	return deref(l), nil
}

func deref(l *queue.QueueLimits) queue.QueueLimits {
	if l == nil {
		return queue.QueueLimits{}
	}
	return *l
}

// decodeLimits reads the limits column: nil when NULL.
func decodeLimits(raw sql.NullString) (*queue.QueueLimits, error) {
	if !raw.Valid || raw.String == "" {
		return nil, nil
	}
	var l queue.QueueLimits
	if err := json.Unmarshal([]byte(raw.String), &l); err != nil {
		return nil, fmt.Errorf("stored limits: %w", err)
	}
	return &l, nil
}

// queueLimits reads the limits of q in tx, with the queue's rate limiter state (nil when it
// has none), and whether q is paused.
func queueLimits(tx *wtx, q string) (g *queue.Gate, paused bool, err error) {
	var raw sql.NullString
	var tat, late int64
	var starts int
	if _, err := tx.queryRow("queue-limits", []any{q}, &raw, &tat, &starts, &late, &paused); err != nil || !raw.Valid {
		return nil, paused, err
	}
	l, err := decodeLimits(raw)
	if err != nil || l == nil {
		return nil, paused, err
	}
	return &queue.Gate{Limits: *l, TAT: rateState(tat, starts, late)}, paused, nil
}

// rateState is a rate limiter's state as stored: tat in Unix nanoseconds, late in nanoseconds.
func rateState(tat int64, starts int, late int64) queue.RateState {
	return queue.RateState{TAT: fromNanos(tat), Starts: starts, Late: time.Duration(late)}
}

// takeLimited leases up to max pending jobs of q within its limits g, skipping jobs held back
// by their key's limit. It returns the jobs and the soonest time a job held back by a rate may
// start (Unix nanoseconds, 0: none).
func takeLimited(tx *wtx, g *queue.Gate, q, worker string, now time.Time, lease int64, max int) ([]*queue.Job, int64, error) {
	g.Now = now
	if err := loadGate(tx, g, q); err != nil {
		return nil, 0, err
	}
	rowids, err := admitted(tx, g, q, max)
	if err != nil {
		return nil, 0, err
	}
	if _, err := tx.exec("set-queue-tat", q, nanos(g.TAT.TAT), g.TAT.Starts, int64(g.TAT.Late)); err != nil {
		return nil, 0, err
	}
	for _, k := range g.Changed {
		st := g.KeyTAT[k]
		if _, err := tx.exec("set-key-tat", q, k, nanos(st.TAT), st.Starts, int64(st.Late), nanos(st.Until)); err != nil {
			return nil, 0, err
		}
	}
	var jobs []*queue.Job
	if len(rowids) > 0 {
		ids, _ := json.Marshal(rowids) // a slice of integers always marshals
		if jobs, err = leaseJobs(tx, "take-rows", now.UnixNano(), worker, lease, string(ids)); err != nil {
			return nil, 0, err
		}
	}
	return jobs, nanos(g.Slot), nil
}

// loadGate reads the queue's running jobs per key and its keys' rate limiter state into g.
func loadGate(tx *wtx, g *queue.Gate, q string) error {
	g.KeyRunning, g.KeyTAT = map[string]int{}, map[string]queue.RateState{}
	if _, err := tx.exec("trim-key-tats", q, g.Now.UnixNano()); err != nil {
		return err
	}
	rows, err := tx.query("running-by-key", q)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			rows.Close()
			return err
		}
		g.KeyRunning[k], g.Running = n, g.Running+n
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	if rows, err = tx.query("key-tats", q, g.Now.UnixNano()); err != nil {
		return err
	}
	for rows.Next() {
		var k string
		var tat, late int64
		var starts int
		if err := rows.Scan(&k, &tat, &starts, &late); err != nil {
			rows.Close()
			return err
		}
		g.KeyTAT[k] = rateState(tat, starts, late)
	}
	return closeRows(rows)
}

// admitted walks the queue's pending jobs in order and returns the rowids of those g admits,
// at most max.
func admitted(tx *wtx, g *queue.Gate, q string, max int) ([]int64, error) {
	rows, err := tx.query("pending-candidates", q, maxCandidates)
	if err != nil {
		return nil, err
	}
	var out []int64
	for len(out) < max && rows.Next() {
		var rowid int64
		var typ, key string
		if err := rows.Scan(&rowid, &typ, &key); err != nil {
			rows.Close()
			return nil, err
		}
		ok, stop := g.Admit(typ, key)
		if stop {
			break
		}
		if ok {
			out = append(out, rowid)
		}
	}
	return out, closeRows(rows)
}
