package redisbroker

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// TestBatchOfPreviousVersion checks that a batch opened by the version before batches
// belonged to a queue (the hash <prefix>:batch:<id>, its jobs' field b the bare ID) keeps
// working after the upgrade: jobs join it, it is sealed, counts its jobs' outcomes, enqueues
// its callback once, and Batch reads it; a batch opened now is kept with its queue's keys.
func TestBatchOfPreviousVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	raw := rawClient(t)
	done := newJob("callbacks", "old-done")
	// The hash as the previous openbatch.lua wrote it.
	if err := raw.HSet(ctx, b.keys.prefix+":batch:old", "created", time.Now().UnixMilli(), "keep", time.Hour.Milliseconds(),
		"total", 0, "completed", 0, "dead", 0, "canceled", 0, "oc", callbackSpec(done)).Err(); err != nil {
		t.Fatal(err)
	}
	ok, bad := newJob("default", "old-ok"), newJob("other", "old-bad")
	ok.Batch, bad.Batch = "old", "old"
	enqueue(t, b, ok, bad)
	for _, j := range []*queue.Job{ok, bad} {
		if f := raw.HGet(ctx, b.keys.job(j.Queue, j.ID), "b").Val(); f != "old" {
			t.Fatalf("job %s of the old batch has field b %q, want the bare ID as before", j.ID, f)
		}
	}
	if err := b.SealBatch(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	finish(t, b, completed(fetch(t, b, "w", time.Minute, 1, "default")[0], ""))
	if s, err := b.Batch(ctx, "old"); err != nil || s.Total != 2 || s.Completed != 1 || !s.Sealed || s.Finished() {
		t.Fatalf("old batch after one job: %+v %v", s, err)
	}
	finish(t, b, failed(fetch(t, b, "w", time.Minute, 1, "other")[0], queue.StateDead, time.Time{}, "broken"))
	s, err := b.Batch(ctx, "old")
	if err != nil || s.Completed != 1 || s.Dead != 1 || !s.Finished() || s.OnComplete != done.ID {
		t.Fatalf("old batch after its jobs: %+v %v", s, err)
	}
	if got := fetch(t, b, "w", time.Minute, 10, "callbacks"); len(got) != 1 || got[0].ID != done.ID {
		t.Fatalf("callbacks of the old batch: %v, want %s once", ids(got), done.ID)
	}

	// A batch opened now belongs to its queue; on one server its jobs may be on others.
	if err := b.OpenBatch(ctx, queue.BatchSpec{ID: "new", Queue: "home", CreatedAt: time.Now(), Keep: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if n := raw.Exists(ctx, b.keys.batch("home", "new")).Val() + raw.Exists(ctx, b.keys.prefix+":batch:new").Val()*10; n != 1 {
		t.Fatalf("the new batch's keys: %d (1: under its queue's hash tag only)", n)
	}
	if err := b.OpenBatch(ctx, queue.BatchSpec{ID: "old", Queue: "home"}); !errors.Is(err, queue.ErrDuplicateBatch) {
		t.Fatalf("a batch with the ID of an old one: %v, want ErrDuplicateBatch", err)
	}
	away := newJob("away", "new-away")
	away.Batch = "new"
	enqueue(t, b, away)
	if f := raw.HGet(ctx, b.keys.job("away", away.ID), "b").Val(); f != "home/new" {
		t.Fatalf("field b of a job of a batch of another queue: %q, want home/new", f)
	}
	if err := b.SealBatch(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	finish(t, b, completed(fetch(t, b, "w", time.Minute, 1, "away")[0], ""))
	if s, err := b.Batch(ctx, "new"); err != nil || s.Total != 1 || s.Completed != 1 || !s.Finished() {
		t.Fatalf("new batch after its job: %+v %v", s, err)
	}
}

// TestOpenBatchOnTwoQueuesAtOnce opens one batch ID on many queues at once: on one server
// exactly one open succeeds, and the others are refused as duplicates.
func TestOpenBatchOnTwoQueuesAtOnce(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	const n = 16
	for round := range 5 {
		id := "contested-" + strconv.Itoa(round)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = b.OpenBatch(ctx, queue.BatchSpec{ID: id, Queue: "q" + strconv.Itoa(i), CreatedAt: time.Now(), Keep: time.Hour})
			})
		}
		wg.Wait()
		opened := 0
		for i, err := range errs {
			switch {
			case err == nil:
				opened++
			case !errors.Is(err, queue.ErrDuplicateBatch):
				t.Fatalf("open on queue q%d: %v", i, err)
			}
		}
		if opened != 1 {
			t.Fatalf("batch %s opened on %d queues at once, want 1", id, opened)
		}
	}
}
