package queuetest

import (
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// testHistoryStore: a slot keeps its first sample, samples come back oldest first from the
// time asked, and those older than the keep window are dropped.
func testHistoryStore(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	b := e.broker
	t0 := time.Now().Truncate(time.Hour).Add(-3 * time.Hour).UTC()
	slot, keep := 10*time.Second, time.Hour
	record := func(s queue.Sample, want bool) {
		t.Helper()
		stored, err := b.RecordSample(e.ctx, s, slot, keep)
		if err != nil || stored != want {
			t.Fatalf("RecordSample(%v) = %v, %v; want %v", s.At, stored, err, want)
		}
	}
	first := queue.Sample{At: t0.Add(3 * time.Second), Pending: 1, Active: 2, Scheduled: 3, Retry: 4, Dead: 5, Processed: 600, Failed: 7}
	record(first, true)
	record(queue.Sample{At: t0.Add(7 * time.Second), Pending: 99}, false) // same slot: another worker's, dropped
	record(queue.Sample{At: t0.Add(12 * time.Second), Pending: 8, Processed: 610}, true)
	got, err := b.Samples(e.ctx, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := first
	want.At = t0
	if len(got) != 2 || !got[0].At.Equal(t0) || got[0].Pending != 1 || got[0].Active != 2 || got[0].Scheduled != 3 ||
		got[0].Retry != 4 || got[0].Dead != 5 || got[0].Processed != 600 || got[0].Failed != 7 ||
		!got[1].At.Equal(t0.Add(slot)) || got[1].Pending != 8 || got[1].Processed != 610 {
		t.Fatalf("samples = %+v; want %+v and the next slot's", got, want)
	}
	if got, err := b.Samples(e.ctx, t0.Add(slot)); err != nil || len(got) != 1 || got[0].Pending != 8 {
		t.Fatalf("samples since the second slot = %+v, %v", got, err)
	}
	// An hour later the first two are out of the window.
	record(queue.Sample{At: t0.Add(keep + 15*time.Second), Pending: 9}, true)
	if got, err := b.Samples(e.ctx, t0.Add(-time.Hour)); err != nil || len(got) != 1 || got[0].Pending != 9 {
		t.Fatalf("samples after an hour = %+v, %v; want only the last (the window is an hour)", got, err)
	}
}

// testWorkerRecordsHistory: a running worker records the queues' totals in the history on
// its heartbeat, so that the history is there before anyone looks.
func testWorkerRecordsHistory(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	e.enqueue("x", nil, queue.OnQueue("elsewhere"))
	e.enqueue("x", nil, queue.OnQueue("elsewhere"))
	start := time.Now().Add(-time.Second)
	e.worker(queue.WorkerConfig{HistorySlot: 50 * time.Millisecond}, map[string]queue.HandlerFunc{"y": noop})
	var got []queue.Sample
	eventually(t, 15*time.Second, func() bool {
		var err error
		got, err = e.client.History(e.ctx, start)
		if err != nil {
			t.Fatal(err)
		}
		return len(got) >= 2
	}, func() string { return "two samples recorded by the worker" })
	if s := got[len(got)-1]; s.Pending != 2 || s.At.Before(start) {
		t.Fatalf("the worker's last sample is %+v; want the two pending jobs of queue elsewhere", s)
	}
}
