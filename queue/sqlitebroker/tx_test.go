package sqlitebroker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// InTx commits a caller's rows and its jobs together, or neither: a row and a job written in
// one function are both there; a function that fails after enqueuing leaves no job and no
// row, and the functions running in the same group are not affected.
func TestInTxCommitsRowsAndJobsTogether(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	if err := b.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	errFail := errors.New("refused")
	jobs := make([]*queue.Job, 20)
	var wg sync.WaitGroup
	results := make([]error, len(jobs))
	for i := range jobs {
		jobs[i] = newJob("orders")
		wg.Go(func() {
			results[i] = b.InTx(ctx, func(tx *Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id) VALUES ($1)`, jobs[i].ID); err != nil {
					return err
				}
				errs, err := tx.Enqueue([]*queue.Job{jobs[i]})
				if err != nil || errs[0] != nil {
					return errors.Join(err, errs[0])
				}
				if i%2 == 1 {
					return errFail
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, j := range jobs {
		var n int
		if err := b.r.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE id = $1`, j.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		_, err := b.Get(ctx, j.ID)
		if i%2 == 1 {
			if !errors.Is(results[i], errFail) || n != 0 || !errors.Is(err, queue.ErrJobNotFound) {
				t.Errorf("failed function %d: InTx %v, %d rows, job %v; want its error, no row, no job", i, results[i], n, err)
			}
			continue
		}
		if results[i] != nil || n != 1 || err != nil {
			t.Errorf("function %d: InTx %v, %d rows, job %v; want the row and the job", i, results[i], n, err)
		}
	}
	if s := stats(t, b, "orders"); s.Pending != int64(len(jobs)/2) {
		t.Errorf("pending %d, want %d", s.Pending, len(jobs)/2)
	}
}

// A job enqueued in InTx wakes a waiting Fetch, as Enqueue does.
func TestInTxWakesFetch(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan []*queue.Job, 1)
	go func() {
		jobs, _ := b.Fetch(ctx, queue.FetchRequest{WorkerID: "w1", Queues: []string{"q"}, Max: 1, Lease: time.Minute, Wait: time.Minute})
		got <- jobs
	}()
	j := newJob("q")
	testenv.Until(t, 10*time.Second, "Fetch is not waiting", func() bool { return b.waiters.Load() > 0 })
	if err := b.InTx(ctx, func(tx *Tx) error { _, err := tx.Enqueue([]*queue.Job{j}); return err }); err != nil {
		t.Fatal(err)
	}
	if jobs := <-got; len(jobs) != 1 || jobs[0].ID != j.ID {
		t.Fatalf("Fetch got %v, want %s", jobs, j.ID)
	}
}

// The plain jobs of an InTx function go in together at its end: a duplicate id among them
// fails the function (ErrDuplicateJob), its changes undone; a job that depends on one of
// them, enqueued later in the same function, finds it.
func TestInTxPlainJobsAtTheEnd(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	taken := newJob("q")
	enqueue(t, b, taken)
	fresh := newJob("q")
	err := b.InTx(ctx, func(tx *Tx) error {
		for _, j := range []*queue.Job{fresh, taken} {
			if errs, err := tx.Enqueue([]*queue.Job{j}); err != nil || errs[0] != nil {
				return errors.Join(err, errs[0])
			}
		}
		return nil
	})
	if !errors.Is(err, queue.ErrDuplicateJob) {
		t.Fatalf("InTx with a taken id: %v, want ErrDuplicateJob", err)
	}
	if _, err := b.Get(ctx, fresh.ID); !errors.Is(err, queue.ErrJobNotFound) {
		t.Errorf("the other job of the failed function: %v, want not found", err)
	}

	parent, child := newJob("q"), newJob("q")
	child.DependsOn = []string{parent.ID}
	if err := b.InTx(ctx, func(tx *Tx) error {
		for _, j := range []*queue.Job{parent, child} {
			if errs, err := tx.Enqueue([]*queue.Job{j}); err != nil || errs[0] != nil {
				return errors.Join(err, errs[0])
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, b, child.ID); got.State != queue.StateWaiting {
		t.Errorf("child: %s, want waiting for its parent", got.State)
	}
}
