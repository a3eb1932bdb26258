package sqlitebroker

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// Tx is a write transaction of the broker's writer, handed to the function given to InTx:
// a program that keeps its own tables in the queue's file runs its statements on it, and
// enqueues jobs in it, so that its rows and its jobs commit together or not at all (as
// River's InsertTx does on PostgreSQL). The broker knows nothing of those tables.
//
// Its statements run to completion whatever their context (interrupting one would roll back
// the whole group transaction, which other operations share). A Tx is valid only while the
// function runs, on that goroutine.
type Tx struct {
	t      *wtx
	added  int             // jobs stored by Enqueue
	queues map[string]bool // the queues Enqueue made sure exist
	later  []*queue.Job    // plain jobs to store at the end of the function (flush)
	after  []func()        // to run once the transaction has committed (AfterCommit)
}

// InTx runs fn in the writer's next group transaction, in its own savepoint, and returns once
// that transaction has committed (nil) or fn's changes, its jobs included, are undone (fn's
// error, or the commit's). Waiting Fetch calls of this process wake when fn enqueued jobs.
// fn must not call the broker's other methods. Statements fn runs are prepared on the
// writer connection once, after their first use, and kept.
func (b *Broker) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	var added int
	var after []func()
	err := b.write(ctx, func(w *wtx) error {
		tx := &Tx{t: w, queues: make(map[string]bool, 1)}
		err := fn(tx)
		if err == nil {
			err = tx.flush()
		}
		added, after = tx.added, tx.after
		return err
	})
	if err != nil {
		return err
	}
	if added > 0 {
		b.wake.broadcast()
	}
	for _, f := range after {
		f()
	}
	return nil
}

// AfterCommit makes InTx run f once the transaction has committed, before it returns; f never
// runs if the function or the commit fails (queue.Committer).
func (tx *Tx) AfterCommit(f func()) { tx.after = append(tx.after, f) }

// Enqueue stores jobs in the transaction, as Broker.Enqueue does: one error per job (a
// duplicate id or unique key); err is a failure of the transaction, which InTx's function
// should return.
//
// Plain jobs (without unique key, parents or batch) are stored when the function returns,
// with the other plain jobs of the function in one statement (or before the next job that
// is not plain): their error here is nil, and a duplicate id among them makes InTx fail with
// an error wrapping queue.ErrDuplicateJob, the function's changes undone.
func (tx *Tx) Enqueue(jobs []*queue.Job) ([]error, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	if err := checkNew(jobs); err != nil {
		return nil, err
	}
	if slices.IndexFunc(jobs, func(j *queue.Job) bool { return !plain(j) }) < 0 {
		if err := tx.ensureQueues(jobs); err != nil {
			return nil, err
		}
		tx.later = append(tx.later, jobs...)
		return make([]error, len(jobs)), nil
	}
	if err := tx.flush(); err != nil {
		return nil, err
	}
	errs := make([]error, len(jobs))
	n, err := enqueueIn(tx.t, jobs, errs, tx.queues)
	if err != nil {
		return nil, fmt.Errorf("sqlitebroker: enqueue %d jobs in %s: %w", len(jobs), tx.t.b.path, err)
	}
	tx.added += n
	return errs, nil
}

// ensureQueues makes sure the queues of jobs exist.
func (tx *Tx) ensureQueues(jobs []*queue.Job) error {
	for _, j := range jobs {
		if !tx.queues[j.Queue] {
			if _, err := tx.t.exec("ensure-queue", j.Queue); err != nil {
				return fmt.Errorf("sqlitebroker: enqueue in %s: %w", tx.t.b.path, err)
			}
			tx.queues[j.Queue] = true
		}
	}
	return nil
}

// flush stores the plain jobs Enqueue left for later, in statements of up to maxRun jobs.
func (tx *Tx) flush() error {
	jobs := tx.later
	tx.later = nil
	errs := make([]error, len(jobs))
	now := time.Now().UnixNano()
	for start := 0; start < len(jobs); start += maxRun {
		run := make([]int, 0, min(maxRun, len(jobs)-start))
		for i := start; i < start+cap(run); i++ {
			run = append(run, i)
		}
		n, err := insertRun(tx.t, jobs, run, errs, now)
		if err != nil {
			return fmt.Errorf("sqlitebroker: enqueue %d jobs in %s: %w", len(run), tx.t.b.path, err)
		}
		tx.added += n
	}
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("sqlitebroker: enqueue %s: %w", jobs[i].ID, err)
		}
	}
	return nil
}

// ExecContext runs a statement of the caller's in the transaction.
func (tx *Tx) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	if st := tx.prepared(query); st != nil {
		return st.ExecContext(tx.t.ctx, args...)
	}
	return tx.t.tx.ExecContext(tx.t.ctx, query, args...)
}

// QueryContext runs a query of the caller's in the transaction.
func (tx *Tx) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := tx.prepared(query); st != nil {
		return st.QueryContext(tx.t.ctx, args...)
	}
	return tx.t.tx.QueryContext(tx.t.ctx, query, args...)
}

// QueryRowContext runs a query of the caller's in the transaction.
func (tx *Tx) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	if st := tx.prepared(query); st != nil {
		return st.QueryRowContext(tx.t.ctx, args...)
	}
	return tx.t.tx.QueryRowContext(tx.t.ctx, query, args...)
}

// prepared returns query as a statement of the transaction when it is prepared on the
// writer already; else it asks for it to be prepared after the transaction (preparing now
// would wait for the one writer connection, which the transaction holds) and returns nil.
func (tx *Tx) prepared(query string) *sql.Stmt {
	b := tx.t.b
	if st, ok := b.callerStmts.stmts.Load(query); ok {
		return tx.t.tx.StmtContext(tx.t.ctx, st.(*sql.Stmt))
	}
	b.callerStmts.wanted.Store(query, true)
	return nil
}

// callerStmts are the statements of InTx callers, prepared on the writer connection.
type callerStmts struct {
	stmts  sync.Map // query → *sql.Stmt
	wanted sync.Map // query → true: to prepare between transactions
}

// prepareWanted prepares the statements InTx callers ran unprepared. The writer goroutine
// calls it between transactions; a statement that cannot be prepared keeps running
// unprepared, and reports its error there.
func (b *Broker) prepareWanted() {
	b.callerStmts.wanted.Range(func(k, _ any) bool {
		b.callerStmts.wanted.Delete(k)
		if st, err := b.w.PrepareContext(context.Background(), k.(string)); err == nil {
			b.callerStmts.stmts.Store(k, st)
		}
		return true
	})
}

// closeCallerStmts closes the statements prepared for InTx callers.
func (b *Broker) closeCallerStmts() []error {
	var errs []error
	b.callerStmts.stmts.Range(func(_, st any) bool {
		errs = append(errs, st.(*sql.Stmt).Close())
		return true
	})
	return errs
}
