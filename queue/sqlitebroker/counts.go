package sqlitebroker

import (
	"strconv"

	"github.com/codex-dominion/dominion/queue"
)

// The counts table is kept by triggers (sql/schema_009.sql), except for the two transitions
// that every job makes, pending to active (take, take-rows) and active to completed (finish):
// the statements that make them add their moves to the counts once per batch (moves), which
// costs less than a trigger run for every job.

// moves are changes of the counts rows, by (queue, count state).
type moves map[[2]string]int64

// move records n jobs of queue q leaving count state from for count state to.
func (m moves) move(q, from, to string, n int64) {
	m[[2]string{q, from}] -= n
	m[[2]string{q, to}] += n
}

// apply adds the moves to the counts.
func (m moves) apply(tx *wtx) error {
	for k, n := range m {
		if n == 0 {
			continue
		}
		if _, err := tx.exec("add-count", k[0], k[1], n); err != nil {
			return err
		}
	}
	return nil
}

// pendingCount is the count state of a pending job of priority p: 'pending' for the default
// priority, 'pending:<p>' for another.
func pendingCount(p int) string {
	if p == 0 {
		return string(queue.StatePending)
	}
	return "pending:" + strconv.Itoa(p)
}

// countTaken adds the jobs a take leased (pending before, active now) to the counts.
func countTaken(tx *wtx, jobs []*queue.Job) error {
	m := moves{}
	for _, j := range jobs {
		m.move(j.Queue, pendingCount(j.Priority), string(queue.StateActive), 1)
	}
	return m.apply(tx)
}
