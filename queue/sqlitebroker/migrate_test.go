package sqlitebroker

import (
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// createAtVersion makes a database file at path whose schema is at version v, as a program of
// that version left it.
func createAtVersion(t *testing.T, path string, v int) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, "_pragma=journal_mode(WAL)"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:v] {
		script, err := sqlFiles.ReadFile(m.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(script)); err != nil {
			t.Fatalf("apply %s: %v", m.name, err)
		}
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestMigrateCountsFromVersion8: a file whose pending counts were kept by schema 8's triggers
// (every pending job in 'pending', those of other priorities once more in 'pending:<p>') shows
// the same statistics after the migration to one count row per job, and they stay exact as the
// jobs run; a unique key is still released when its job completes.
func TestMigrateCountsFromVersion8(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "queue.db")
	old := createAtVersion(t, path, 8)
	now := time.Now().UnixNano()
	prios := []int{0, 0, 0, 2, 2, -1, 5}
	if _, err := old.Exec(`INSERT INTO queues (name) VALUES ('q')`); err != nil {
		t.Fatal(err)
	}
	for i, p := range prios {
		var unique any
		if i == 0 {
			unique = "key-0"
			if _, err := old.Exec(`INSERT INTO uniques (queue, key, job_id, expires_at) VALUES ('q', 'key-0', 'old-0', 0)`); err != nil {
				t.Fatal(err)
			}
		}
		_, err := old.Exec(`INSERT INTO jobs (id, queue, type, state, ord, priority, result_ttl, enqueued_at, unique_key)
			VALUES (?, 'q', 'test', ?, ?, ?, ?, ?, ?)`,
			fmt.Sprintf("old-%d", i), "pending", now+int64(i), p, int64(time.Hour), now, unique)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.Exec(`UPDATE jobs SET state = 'active', worker_id = 'gone', due = ? WHERE id = 'old-6'`, now+int64(time.Hour)); err != nil {
		t.Fatal(err)
	}
	old.Close()

	b := openBroker(t, path, Options{})
	wantPending(t, b, map[int]int64{0: 3, 2: 2, -1: 1})
	wantCountsExact(t, b)
	if s := stats(t, b, "q"); s.Active != 1 {
		t.Fatalf("active %d after the migration, want 1", s.Active)
	}

	enqueue(t, b, withPriority(newJob("q"), 2), withPriority(newJob("q"), 0))
	wantPending(t, b, map[int]int64{0: 4, 2: 3, -1: 1})
	jobs := fetch(t, b, 10, "q")
	if len(jobs) != 8 || jobs[0].Priority != 2 || jobs[7].Priority != -1 {
		t.Fatalf("fetched %d jobs, first of priority %d, last %d; want 8, from 2 down to -1", len(jobs), jobs[0].Priority, jobs[len(jobs)-1].Priority)
	}
	wantPending(t, b, nil)
	for _, j := range jobs {
		finish(t, b, j, queue.StateCompleted)
	}
	if s := stats(t, b, "q"); s.Completed != 8 || s.Active != 1 || s.Pending != 0 {
		t.Fatalf("completed %d, active %d, pending %d; want 8, 1, 0", s.Completed, s.Active, s.Pending)
	}
	again := newJob("q")
	again.UniqueKey, again.UniqueFor = "key-0", time.Hour
	enqueue(t, b, again) // old-0 completed: its key is free
	wantPending(t, b, map[int]int64{0: 1})
	wantCountsExact(t, b)
}

func withPriority(j *queue.Job, p int) *queue.Job {
	j.Priority = p
	return j
}

// wantPending checks queue q's pending jobs per priority and their total.
func wantPending(t *testing.T, b *Broker, want map[int]int64) {
	t.Helper()
	s := stats(t, b, "q")
	var total int64
	for _, n := range want {
		total += n
	}
	if s.Pending != total || !maps.Equal(s.PendingByPriority, want) && len(want)+len(s.PendingByPriority) > 0 {
		t.Fatalf("pending %d by priority %v, want %d by priority %v", s.Pending, s.PendingByPriority, total, want)
	}
}

// TestMigrateDependentsFromVersion11: a file of schema 11 (the triggers that canceled
// dependents recursively) with a waiting chain migrates to the cascade of schema 13: canceling
// the root cancels both generations, and the counts stay exact.
func TestMigrateDependentsFromVersion11(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "queue.db")
	old := createAtVersion(t, path, 11)
	now := time.Now().UnixNano()
	for _, stmt := range []string{
		`INSERT INTO queues (name) VALUES ('q')`,
		fmt.Sprintf(`INSERT INTO jobs (id, queue, type, state, ord, result_ttl, enqueued_at, has_children)
			VALUES ('root', 'q', 'test', 'pending', %d, 3600000000000, %d, 1)`, now, now),
		fmt.Sprintf(`INSERT INTO jobs (id, queue, type, state, ord, result_ttl, enqueued_at, parents, waits, has_children)
			VALUES ('child', 'q', 'test', 'waiting', %d, 3600000000000, %d, '["root"]', 1, 1)`, now, now),
		fmt.Sprintf(`INSERT INTO jobs (id, queue, type, state, ord, result_ttl, enqueued_at, parents, waits)
			VALUES ('grandchild', 'q', 'test', 'waiting', %d, 3600000000000, %d, '["child"]', 1)`, now, now),
		`INSERT INTO deps (parent, child) VALUES ('root', 'child'), ('child', 'grandchild')`,
	} {
		if _, err := old.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	b := openBroker(t, path, Options{})
	if _, err := b.Cancel(t.Context(), "root"); err != nil {
		t.Fatal(err)
	}
	for id, parent := range map[string]string{"child": "root", "grandchild": "child"} {
		j, err := b.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != queue.StateCanceled || len(j.Errors) != 1 || j.Errors[0].Error != queue.ParentFailedError(parent, "canceled") {
			t.Fatalf("%s after its ancestor was canceled: %s %+v", id, j.State, j.Errors)
		}
	}
	if s := stats(t, b, "q"); s.Canceled != 3 || s.Waiting != 0 {
		t.Fatalf("stats after the cascade: %+v", s)
	}
	wantCountsExact(t, b)
}
