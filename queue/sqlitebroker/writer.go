package sqlitebroker

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Writes go through one goroutine that owns the writer connection (SQLite has one writer per
// file; serializing in Go beats retrying on SQLITE_BUSY). It runs the operations waiting at
// the moment in one transaction (group commit): each in a savepoint, so that one operation's
// failure undoes only its own changes, and all of them made durable by one commit. A Fetch,
// the Finish of the previous batch and a Heartbeat arriving together cost one commit, not three.

// maxGroup bounds the operations of one transaction.
const maxGroup = 64

// writeOp is one operation waiting for the writer.
type writeOp struct {
	ctx  context.Context
	fn   func(*wtx) error
	done chan error
}

// write runs fn in a write transaction and returns once that transaction is committed (nil)
// or fn's changes are undone (fn's error, or the commit's). fn must not call write.
func (b *Broker) write(ctx context.Context, fn func(tx *wtx) error) error {
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case b.ops <- op:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.done:
		return errClosed
	}
	// The writer answers every operation it took, promptly: it checks ctx before running one.
	return <-op.done
}

// writeLoop runs waiting operations in groups until the broker closes. Between groups, every
// PollInterval while some Fetch waits, it checks for writes of other processes and wakes the
// waiters when there were some.
func (b *Broker) writeLoop() {
	defer b.bg.Done()
	tick := time.NewTicker(b.opts.PollInterval)
	defer tick.Stop()
	var foreign foreignWrites
	group := make([]*writeOp, 0, maxGroup)
	for {
		select {
		case op := <-b.ops:
			group = append(group[:0], op)
		case <-tick.C:
			// A change seen after a time without waiters may wake them for nothing: they
			// look again and wait again.
			if b.waiters.Load()+b.eventWaiters.Load() > 0 && foreign.check(b) {
				b.wake.broadcast()
				b.written.broadcast()
			}
			continue
		case <-b.done:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case op := <-b.ops:
				group = append(group, op)
			default:
				break more
			}
		}
		b.runGroup(group)
		clear(group)
		b.prepareWanted()
		if b.eventWaiters.Load() > 0 {
			b.written.broadcast()
		}
	}
}

// runGroup runs the operations in one transaction and answers each.
func (b *Broker) runGroup(group []*writeOp) {
	ctx := context.Background()
	live := group[:0:0]
	for _, op := range group {
		if err := op.ctx.Err(); err != nil {
			op.done <- err
			continue
		}
		live = append(live, op)
	}
	if len(live) == 0 {
		return
	}
	tx, err := b.begin(ctx)
	if err != nil {
		answerAll(live, fmt.Errorf("begin: %w", explain(err, b.opts.BusyTimeout)))
		return
	}
	t := &wtx{ctx: ctx, tx: tx, b: b}
	if len(live) == 1 {
		// Alone: no savepoint needed.
		if err := runOp(t, live[0]); err != nil {
			_ = tx.Rollback()
			live[0].done <- err
			return
		}
		live[0].done <- tx.Commit()
		return
	}
	results := make([]error, len(live))
	for i, op := range live {
		results[i], err = runSavepoint(t, op)
		if err != nil {
			_ = tx.Rollback()
			answerAll(live, err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		answerAll(live, err)
		return
	}
	for i, op := range live {
		op.done <- results[i]
	}
}

// runSavepoint runs one operation of a group inside a savepoint. opErr is the operation's own
// failure (its changes undone); err is a failure of the transaction itself.
func runSavepoint(t *wtx, op *writeOp) (opErr, err error) {
	if err := op.ctx.Err(); err != nil {
		return err, nil
	}
	// Prepared statements: parsing these three at each operation cost ~1 % of process_c50.
	if _, err := t.exec("savepoint"); err != nil {
		return nil, err
	}
	if opErr = runOp(t, op); opErr != nil {
		if _, err := t.exec("rollback-to-savepoint"); err != nil {
			return nil, fmt.Errorf("%w (after %w)", err, opErr)
		}
	}
	if _, err := t.exec("release-savepoint"); err != nil {
		return nil, err
	}
	return opErr, nil
}

// runOp runs one operation, then the cascade of cancellations it may have started.
func runOp(t *wtx, op *writeOp) error {
	if err := op.fn(t); err != nil {
		return err
	}
	return drainCascade(t)
}

// drainCascade cancels the waiting children of the jobs that the operation ended dead or
// canceled, or deleted, one generation per round until none is left (schema_013.sql): a
// loop here, as SQLite nests triggers at most 1000 deep. Every operation pays one indexed
// read for it.
func drainCascade(t *wtx) error {
	for {
		var last sql.NullInt64
		if _, err := t.queryRow("cascade-last", nil, &last); err != nil {
			return err
		}
		if !last.Valid {
			return nil
		}
		if _, err := t.exec("cascade-cancel", last.Int64); err != nil {
			return err
		}
		if _, err := t.exec("cascade-trim", last.Int64); err != nil {
			return err
		}
	}
}

func answerAll(ops []*writeOp, err error) {
	for _, op := range ops {
		op.done <- err
	}
}

// begin starts a write transaction (BEGIN IMMEDIATE), waiting up to BusyTimeout while another
// process holds the write lock. It polls every few hundred microseconds rather than leave it
// to SQLite's busy handler, whose sleeps grow to 100 ms: a process that writes without pause
// leaves gaps of microseconds between its transactions, which such sleeps almost never hit,
// so that the other process would starve until its timeout.
func (b *Broker) begin(ctx context.Context) (*sql.Tx, error) {
	deadline := time.Now().Add(b.opts.BusyTimeout)
	delay := 20 * time.Microsecond
	for {
		tx, err := b.w.BeginTx(ctx, nil)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return tx, err
		}
		time.Sleep(delay/2 + rand.N(delay))
		delay = min(2*delay, 500*time.Microsecond)
	}
}

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}
