package sqlitebroker

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// openBroker opens a broker on path and closes it when the test ends.
func openBroker(t testing.TB, path string, opts Options) *Broker {
	t.Helper()
	b, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// newBroker opens a broker on a new file in the test's temporary directory.
func newBroker(t testing.TB, opts ...Options) *Broker {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	return openBroker(t, filepath.Join(t.TempDir(), "queue.db"), o)
}

// newJob returns a pending job of queue q, as the Client would make it.
func newJob(q string) *queue.Job {
	return &queue.Job{
		ID: queue.NewID(), Queue: q, Type: "test", Payload: []byte(`{"n":1}`),
		State: queue.StatePending, MaxRetries: 3, ResultTTL: time.Hour, EnqueuedAt: time.Now(),
	}
}

// enqueue stores jobs and fails the test on any error, of the call or of a job.
func enqueue(t testing.TB, b queue.Broker, jobs ...*queue.Job) {
	t.Helper()
	errs, err := b.Enqueue(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("job %d (%s): %v", i, jobs[i].ID, e)
		}
	}
}

// fetch calls Fetch for worker "w1" on queues, without waiting.
func fetch(t testing.TB, b queue.Broker, max int, queues ...string) []*queue.Job {
	t.Helper()
	return fetchReq(t, b, queue.FetchRequest{WorkerID: "w1", Queues: queues, Max: max, Lease: time.Minute})
}

func fetchReq(t testing.TB, b queue.Broker, req queue.FetchRequest) []*queue.Job {
	t.Helper()
	jobs, err := b.Fetch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// get returns the job, failing the test when it cannot.
func get(t testing.TB, b queue.Broker, id string) *queue.Job {
	t.Helper()
	j, err := b.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// wantState fails the test unless the job is in state st.
func wantState(t testing.TB, b queue.Broker, id string, st queue.State) *queue.Job {
	t.Helper()
	j := get(t, b, id)
	if j.State != st {
		t.Fatalf("job %s is %s, want %s", id, j.State, st)
	}
	return j
}

// finish records one outcome for a job fetched by its worker.
func finish(t testing.TB, b queue.Broker, j *queue.Job, st queue.State, mod ...func(*queue.Outcome)) {
	t.Helper()
	o := queue.Outcome{JobID: j.ID, Queue: j.Queue, WorkerID: j.WorkerID, Attempt: j.Attempt, State: st,
		FinishedAt: time.Now()}
	if st != queue.StateCompleted {
		o.Error = &queue.AttemptError{Attempt: j.Attempt, Error: "handler failed", At: o.FinishedAt}
	}
	for _, m := range mod {
		m(&o)
	}
	if err := b.Finish(context.Background(), []queue.Outcome{o}); err != nil {
		t.Fatal(err)
	}
}

// ids returns the IDs of jobs.
func ids(jobs []*queue.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// stats returns the statistics of queue q (zero when it is not listed).
func stats(t testing.TB, b queue.Broker, q string) queue.QueueStats {
	t.Helper()
	all, err := b.Queues(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.Name == q {
			return s
		}
	}
	return queue.QueueStats{}
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

// wantCountsExact checks every row of the counts table against the jobs it counts: 'pending'
// the pending jobs of priority 0, 'pending:<p>' those of priority p, any other state its jobs.
func wantCountsExact(t testing.TB, b *Broker) {
	t.Helper()
	rows, err := b.r.Query(`SELECT c.queue, c.state, c.n, (SELECT count(*) FROM jobs j WHERE j.queue = c.queue AND
		CASE WHEN j.state = 'pending' AND j.priority <> 0 THEN 'pending:' || j.priority ELSE j.state END = c.state)
		FROM counts c`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var q, state string
		var counted, actual int
		if err := rows.Scan(&q, &state, &counted, &actual); err != nil {
			t.Fatal(err)
		}
		if counted != actual {
			t.Errorf("queue %s, %s: count %d, jobs %d", q, state, counted, actual)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
