package queuetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

func testResultTTL(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	e.worker(queue.WorkerConfig{}, map[string]queue.HandlerFunc{"x": noop})
	short := e.enqueue("x", nil, queue.ResultTTL(200*time.Millisecond))
	kept := e.enqueue("x", nil)
	e.waitState(kept.ID, queue.StateCompleted)
	// The short-lived result disappears once its TTL has passed (the broker's clean-up runs
	// as part of fetching; keep the worker busy with fresh jobs meanwhile).
	eventually(t, 15*time.Second, func() bool {
		e.enqueue("x", nil)
		_, err := e.client.Get(e.ctx, short.ID)
		return errors.Is(err, queue.ErrJobNotFound)
	}, func() string { return "completed job outlived its result TTL" })
	if got := e.get(kept.ID); got.State != queue.StateCompleted {
		t.Fatalf("job with the default 24h TTL is %s", got.State)
	}
}

func testListPagination(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	var want []string
	for i := range 25 {
		id := fmt.Sprintf("job-%02d", i)
		e.enqueue("x", nil, queue.WithID(id), queue.OnQueue("paged"))
		want = append(want, id)
	}
	var got []string
	for offset := 0; ; offset += 10 {
		page, err := e.client.List(e.ctx, "paged", queue.StatePending, offset, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 10 {
			t.Fatalf("page of %d jobs with limit 10", len(page))
		}
		for _, j := range page {
			if j.State != queue.StatePending || j.Queue != "paged" {
				t.Fatalf("listed job %+v", j)
			}
			got = append(got, j.ID)
		}
		if len(page) < 10 {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v (oldest first)", got, want)
	}
	for range 3 {
		j := e.enqueue("x", nil, queue.OnQueue("paged"), queue.RunIn(time.Hour))
		want = append(want, j.ID)
	}
	sched, err := e.client.List(e.ctx, "paged", queue.StateScheduled, 0, 50)
	if err != nil || len(sched) != 3 {
		t.Fatalf("scheduled list = %d jobs, %v", len(sched), err)
	}
	empty, err := e.client.List(e.ctx, "paged", queue.StateDead, 0, 50)
	if err != nil || len(empty) != 0 {
		t.Fatalf("dead list = %d jobs, %v", len(empty), err)
	}
}

func testWorkersListed(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	started := make(chan struct{})
	release := make(chan struct{})
	e.worker(queue.WorkerConfig{ID: "w-listed", Concurrency: 3, HeartbeatInterval: 50 * time.Millisecond,
		Queues: []queue.QueueWeight{{Name: "a", Weight: 2}, {Name: "b", Weight: 1}}},
		map[string]queue.HandlerFunc{"hold": func(context.Context, *queue.Job) (any, error) {
			close(started)
			<-release
			return nil, nil
		}})
	job := e.enqueue("hold", nil, queue.OnQueue("a"))
	<-started
	var w queue.WorkerInfo
	eventually(t, 10*time.Second, func() bool {
		ws, err := e.client.Workers(e.ctx)
		if err != nil || len(ws) != 1 {
			return false
		}
		w = ws[0]
		return slices.Contains(w.Jobs, job.ID)
	}, func() string { return fmt.Sprintf("worker with the running job not listed (saw %+v)", w) })
	if w.ID != "w-listed" || w.Concurrency != 3 || w.PID == 0 || w.Host == "" ||
		!slices.Equal(w.Queues, []string{"a", "b"}) || !slices.Equal(w.Types, []string{"hold"}) ||
		time.Since(w.Heartbeat) > 10*time.Second {
		t.Fatalf("worker = %+v", w)
	}
	close(release)
	e.waitState(job.ID, queue.StateCompleted)
}

func testCounters(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	e.worker(queue.WorkerConfig{}, map[string]queue.HandlerFunc{
		"ok":   noop,
		"fail": func(context.Context, *queue.Job) (any, error) { return nil, queue.NoRetry(errors.New("no")) },
	})
	var last *queue.Job
	for range 4 {
		last = e.enqueue("ok", nil)
	}
	failed := e.enqueue("fail", nil)
	e.waitState(last.ID, queue.StateCompleted)
	e.waitState(failed.ID, queue.StateDead)
	eventually(t, 5*time.Second, func() bool {
		s := e.stats(queue.DefaultQueue)
		return s.Processed == 5 && s.Failed == 1 && s.Completed == 4 && s.Dead == 1
	}, func() string { return fmt.Sprintf("stats = %+v", e.stats(queue.DefaultQueue)) })
}
