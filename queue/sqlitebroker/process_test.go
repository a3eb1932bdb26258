package sqlitebroker

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// waitingFetch starts a Fetch on b that waits up to a minute and returns when it is waiting;
// the job it gets (or its error) arrives on the returned channel, with the time it returned.
func waitingFetch(t *testing.T, b *Broker, q string) <-chan fetched {
	t.Helper()
	out := make(chan fetched, 1)
	before := b.waiters.Load()
	go func() {
		jobs, err := b.Fetch(t.Context(), queue.FetchRequest{WorkerID: "waiter", Queues: []string{q}, Max: 1,
			Lease: time.Minute, Wait: time.Minute})
		out <- fetched{jobs: jobs, err: err, at: time.Now()}
	}()
	testenv.Until(t, 10*time.Second, "Fetch is not waiting", func() bool { return b.waiters.Load() > before })
	return out
}

type fetched struct {
	jobs []*queue.Job
	err  error
	at   time.Time
}

func TestEnqueueWakesWaitingFetch(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	for _, how := range []string{"enqueue", "retry", "resume"} {
		j := newJob("default")
		switch how {
		case "retry":
			j.State, j.RunAt = queue.StateScheduled, time.Now().Add(time.Hour)
			enqueue(t, b, j)
		case "resume":
			enqueue(t, b, j)
			if err := b.Pause(t.Context(), "default"); err != nil {
				t.Fatal(err)
			}
		}
		res := waitingFetch(t, b, "default")
		var err error
		switch how {
		case "enqueue":
			enqueue(t, b, j)
		case "retry":
			err = b.Retry(t.Context(), j.ID)
		case "resume":
			err = b.Resume(t.Context(), "default")
		}
		if err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-res:
			if r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID != j.ID {
				t.Fatalf("%s: Fetch = %v, %v", how, ids(r.jobs), r.err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not wake the waiting Fetch", how)
		}
	}
}

// TestCrossProcessWakeUp runs two brokers on one file, as two processes would: a Fetch
// waiting on one gets a job enqueued through the other within 100 ms (PollInterval 25ms).
// The median of several rounds is checked, so that one scheduling hiccup of a loaded test
// machine does not fail it.
func TestCrossProcessWakeUp(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shared.db")
	producer := openBroker(t, path, Options{})
	consumer := openBroker(t, path, Options{})
	var lat []time.Duration
	for range 7 {
		res := waitingFetch(t, consumer, "default")
		j := newJob("default")
		start := time.Now()
		enqueue(t, producer, j)
		select {
		case r := <-res:
			if r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID != j.ID {
				t.Fatalf("Fetch = %v, %v", ids(r.jobs), r.err)
			}
			lat = append(lat, r.at.Sub(start))
		case <-time.After(30 * time.Second):
			t.Fatal("the other broker's enqueue never woke the Fetch")
		}
	}
	slices.Sort(lat)
	t.Logf("cross-process enqueue to start: %v", lat)
	if median := lat[len(lat)/2]; median >= 100*time.Millisecond {
		t.Fatalf("median wake-up %v, want under 100ms (all: %v)", median, lat)
	}
}

func TestFetchReturnsOnContextCancel(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := b.Fetch(ctx, queue.FetchRequest{WorkerID: "w", Queues: []string{"default"}, Max: 1, Wait: time.Hour})
		done <- err
	}()
	testenv.Until(t, 10*time.Second, "Fetch is not waiting", func() bool { return b.waiters.Load() > 0 })
	cancel()
	select {
	case err := <-done:
		wantErr(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Fetch ignored the canceled context")
	}
}

func TestCloseEndsWaitingFetch(t *testing.T) {
	t.Parallel()
	b, err := Open(t.Context(), filepath.Join(t.TempDir(), "q.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := waitingFetch(t, b, "default")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		if r.err == nil {
			t.Fatal("Fetch on a closed broker returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the waiting Fetch")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := b.Enqueue(t.Context(), []*queue.Job{newJob("default")}); err == nil {
		t.Fatal("Enqueue after Close worked")
	}
}

func TestReopenKeepsJobs(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "q.db")
	b, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	jobs := []*queue.Job{newJob("default"), newJob("default"), newJob("other")}
	enqueue(t, b, jobs...)
	active := fetch(t, b, 1, "default")[0]
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openBroker(t, path, Options{})
	wantState(t, b, active.ID, queue.StateActive)
	wantState(t, b, jobs[1].ID, queue.StatePending)
	if s := stats(t, b, "other"); s.Pending != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConcurrentWorkersTakeEachJobOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "q.db")
	brokers := []*Broker{openBroker(t, path, Options{}), openBroker(t, path, Options{})}
	const n = 300
	var jobs []*queue.Job
	for range n {
		jobs = append(jobs, newJob("default"))
	}
	enqueue(t, brokers[0], jobs...)
	var mu sync.Mutex
	seen := make(map[string]int)
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			b := brokers[w%2]
			worker := "w" + string(rune('a'+w))
			for {
				got, err := b.Fetch(t.Context(), queue.FetchRequest{WorkerID: worker, Queues: []string{"default"},
					Max: 7, Lease: time.Minute})
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				var outs []queue.Outcome
				mu.Lock()
				for _, j := range got {
					seen[j.ID]++
					outs = append(outs, queue.Outcome{JobID: j.ID, WorkerID: worker, Attempt: j.Attempt,
						State: queue.StateCompleted, FinishedAt: time.Now()})
				}
				mu.Unlock()
				if err := b.Finish(t.Context(), outs); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d jobs processed, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("job %s fetched %d times", id, c)
		}
	}
	if s := stats(t, brokers[1], "default"); s.Completed != n || s.Processed != n || s.Pending != 0 || s.Active != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// Open's errors name the file: a file that is not a database, one that another connection
// keeps locked, one that cannot be created, one made by a newer schema.

func TestOpenCorruptFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "garbage.db")
	garbage := []byte(strings.Repeat("this is not a SQLite database\n", 400))
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), path, Options{})
	wantOpenError(t, err, path, "not a database")
	// The file is left as it was.
	if data, _ := os.ReadFile(path); string(data) != string(garbage) {
		t.Fatal("Open changed the corrupt file")
	}
}

func TestOpenLockedFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "locked.db")
	// Another connection (SQLite locks behave the same between connections of one process
	// as between processes) takes an exclusive lock and keeps it.
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=locking_mode(EXCLUSIVE)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	if _, err := other.Exec("CREATE TABLE hold (x); BEGIN EXCLUSIVE; INSERT INTO hold VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Open(t.Context(), path, Options{BusyTimeout: 200 * time.Millisecond})
	wantOpenError(t, err, path, "locked")
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("gave up after %v, before the busy timeout", waited)
	}
}

func TestOpenUnwritablePath(t *testing.T) {
	t.Parallel()
	// A path under a regular file cannot be created, even by root.
	file := filepath.Join(t.TempDir(), "not-a-directory")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(file, "queue.db")
	_, err := Open(t.Context(), path, Options{})
	wantOpenError(t, err, path, "unable to open")
}

func TestOpenNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "future.db")
	b, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.w.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	b.Close()
	_, err = Open(t.Context(), path, Options{})
	wantOpenError(t, err, path, "newer")
}

func wantOpenError(t *testing.T, err error, path, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Open(%s) worked, want an error", path)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), what) {
		t.Fatalf("error %q does not name %s and say %q", err, path, what)
	}
	t.Logf("Open error: %v", err)
}
