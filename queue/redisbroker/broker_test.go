package redisbroker

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

func TestEnqueueAndGet(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	j := newJob("mail", "")
	j.Type, j.Payload, j.MaxRetries, j.Timeout = "email.send", []byte(`{"to":"a@example.com","s":"é\"\n"}`), 7, 3*time.Second
	j.UniqueKey, j.UniqueFor = "k\"1", time.Hour
	enqueue(t, b, j)
	got := get(t, b, j.ID)
	if got.ID != j.ID || got.Queue != "mail" || got.Type != "email.send" || got.State != queue.StatePending ||
		got.MaxRetries != 7 || got.Timeout != 3*time.Second || got.Attempt != 0 || got.UniqueKey != "k\"1" ||
		got.UniqueFor != time.Hour || got.ResultTTL != time.Hour || !got.EnqueuedAt.Equal(j.EnqueuedAt) ||
		string(got.Payload) != string(j.Payload) {
		t.Fatalf("stored %+v\nwant    %+v", got, j)
	}
	_, err := b.Get(context.Background(), "nope")
	if !errors.Is(err, queue.ErrJobNotFound) {
		t.Fatalf("get unknown job: %v", err)
	}
	s := stats(t, b, "mail")
	if s.Pending != 1 || s.OldestPending.UnixNano() != j.EnqueuedAt.UnixNano() {
		t.Fatalf("stats %+v", s)
	}
}

func TestDuplicates(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	a := newJob("q", "same")
	u1 := newJob("q", "")
	u1.UniqueKey, u1.UniqueFor = "daily", time.Hour
	enqueue(t, b, a, u1)

	dupID := newJob("q", "same")
	dupID.Payload = []byte(`2`)
	u2 := newJob("q", "")
	u2.UniqueKey, u2.UniqueFor = "daily", time.Hour
	u3 := newJob("q", "") // the same key twice in one batch
	u3.UniqueKey = "batch"
	u4 := newJob("q", "")
	u4.UniqueKey = "batch"
	errs, err := b.Enqueue(ctx, []*queue.Job{dupID, u2, u3, u4})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(errs[0], queue.ErrDuplicateJob) || !errors.Is(errs[1], queue.ErrDuplicateUnique) ||
		errs[2] != nil || !errors.Is(errs[3], queue.ErrDuplicateUnique) {
		t.Fatalf("errors %v", errs)
	}
	if got := get(t, b, "same"); string(got.Payload) != `{"n":1}` {
		t.Fatalf("duplicate changed the job: %s", got.Payload)
	}
	if s := stats(t, b, "q"); s.Pending != 3 {
		t.Fatalf("pending %d, want 3", s.Pending)
	}

	// The unique key is held while the job retries, released when it completes.
	jobs := fetch(t, b, "w", time.Minute, 10, "q")
	var held *queue.Job
	for _, j := range jobs {
		if j.ID == u1.ID {
			held = j
		}
	}
	finish(t, b, failed(held, queue.StateRetry, time.Now(), "boom"))
	if errs, _ := b.Enqueue(ctx, []*queue.Job{u2}); !errors.Is(errs[0], queue.ErrDuplicateUnique) {
		t.Fatalf("unique key released by a retry: %v", errs[0])
	}
	held = fetch(t, b, "w", time.Minute, 1, "q")[0]
	finish(t, b, completed(held, ""))
	enqueue(t, b, u2)
}

func TestFetchOrderAndPriority(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	for i := range 3 {
		enqueue(t, b, newJob("low", "low"+string(rune('0'+i))), newJob("high", "high"+string(rune('0'+i))))
	}
	jobs := fetch(t, b, "w", time.Minute, 4, "high", "low")
	if want := []string{"high0", "high1", "high2", "low0"}; !slices.Equal(ids(jobs), want) {
		t.Fatalf("fetched %v, want %v", ids(jobs), want)
	}
	for _, j := range jobs {
		if j.State != queue.StateActive || j.Attempt != 1 || j.WorkerID != "w" || j.StartedAt.IsZero() {
			t.Fatalf("fetched %+v", j)
		}
	}
	got := get(t, b, "high0")
	if got.State != queue.StateActive || got.Attempt != 1 || got.WorkerID != "w" || !got.StartedAt.Equal(jobs[0].StartedAt) {
		t.Fatalf("stored %+v", got)
	}
	if s := stats(t, b, "high"); s.Active != 3 || s.Pending != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPauseSkipsQueue(t *testing.T) {
	t.Parallel()
	b, name := newNamedBroker(t)
	ctx := context.Background()
	enqueue(t, b, newJob("a", "a1"), newJob("b", "b1"))
	if err := b.Pause(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if jobs := fetch(t, b, "w", time.Minute, 5, "a", "b"); !slices.Equal(ids(jobs), []string{"b1"}) {
		t.Fatalf("fetched %v from a paused queue", ids(jobs))
	}
	if s := stats(t, b, "a"); !s.Paused || s.Pending != 1 {
		t.Fatalf("stats %+v", s)
	}
	// A worker waiting on the paused queue is woken by Resume.
	got := make(chan []*queue.Job, 1)
	go func() {
		jobs, _ := b.Fetch(ctx, queue.FetchRequest{WorkerID: "w", Queues: []string{"a"}, Max: 1, Lease: time.Minute, Wait: 30 * time.Second})
		got <- jobs
	}()
	waitBlocked(t, name)
	if err := b.Resume(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if jobs := <-got; !slices.Equal(ids(jobs), []string{"a1"}) {
		t.Fatalf("after resume fetched %v", ids(jobs))
	}
}

func TestDelayedJobOnTime(t *testing.T) {
	t.Parallel()
	b, name := newNamedBroker(t)
	ctx := context.Background()
	// A worker waits (up to 30 s) before the delayed job exists: the enqueue must make it
	// re-time its wait on the job's run-at.
	type result struct {
		jobs []*queue.Job
		at   time.Time
		err  error
	}
	got := make(chan result, 1)
	go func() {
		for {
			jobs, err := b.Fetch(ctx, queue.FetchRequest{WorkerID: "w", Queues: []string{"q"}, Max: 1, Lease: time.Minute, Wait: 30 * time.Second})
			if err != nil || len(jobs) > 0 {
				got <- result{jobs, time.Now(), err}
				return
			}
		}
	}()
	waitBlocked(t, name)
	j := newJob("q", "")
	j.State, j.RunAt = queue.StateScheduled, time.Now().Add(300*time.Millisecond)
	enqueue(t, b, j)
	if got := get(t, b, j.ID); got.State != queue.StateScheduled || got.RunAt.UnixMilli() != j.RunAt.UnixMilli() {
		t.Fatalf("stored %+v", got)
	}
	if s := stats(t, b, "q"); s.Scheduled != 1 || s.Pending != 0 {
		t.Fatalf("stats %+v", s)
	}
	r := <-got
	if r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID != j.ID {
		t.Fatalf("fetched %v, %v", ids(r.jobs), r.err)
	}
	late := r.at.Sub(j.RunAt)
	t.Logf("delayed job fetched %s after its run-at", late)
	if late < -time.Millisecond {
		t.Fatalf("fetched %s early", -late)
	}
	// Without the re-timing the worker would sleep out its whole 30 s wait; how late a
	// re-timed wait ends (a few ms on a quiet machine) is measured by BenchmarkLateness, not
	// asserted here, where a loaded machine adds its own delays.
	if late > 10*time.Second {
		t.Fatalf("fetched %s late: the enqueue did not re-time the worker's wait", late)
	}
}
