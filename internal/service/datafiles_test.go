package service_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
)

// In embedded mode a new data directory holds one file, queue.db, with the workflows and
// the jobs: an accepted workflow is answered as enqueued, its job is pending in the queue,
// and no dominion.db is made.
func TestEmbeddedDataDirHasOneFile(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0], withoutWorker())
	a := s.submit("agent-one-file", "customer_followup")
	if !a.Enqueued || a.JobID != a.WorkflowID {
		t.Errorf("accepted: enqueued %v, job %q; want enqueued as job %q", a.Enqueued, a.JobID, a.WorkflowID)
	}
	if w := s.get(a.WorkflowID); w.JobID != a.WorkflowID {
		t.Errorf("stored workflow's job id %q, want %q", w.JobID, a.WorkflowID)
	}
	job, err := s.openQueue().Get(context.Background(), a.JobID)
	if err != nil || job.State != queue.StatePending {
		t.Fatalf("the workflow's job: %+v %v; want pending", job, err)
	}
	if tables(t, s.cfg.QueueDBPath())["workflows"] != true {
		t.Errorf("%s holds no workflows table", s.cfg.QueueDBPath())
	}
	if _, err := os.Stat(filepath.Join(s.cfg.DataDir, config.StoreDBFile)); err == nil {
		p := filepath.Join(s.cfg.DataDir, config.StoreDBFile)
		t.Errorf("%s was made: the workflows belong in %s", p, config.QueueDBFile)
	}
}

// A data directory made before the workflows moved into queue.db (with dominion.db) keeps
// working as it is: its workflows, one still waiting in the outbox among them, are served
// and run, and new ones are stored in dominion.db too.
func TestTwoFileDataDirKeepsWorking(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	old := filepath.Join(dir, config.StoreDBFile)
	// Accepted an hour ago, by a process that died before enqueuing it: the relay of the
	// next serve enqueues it when it starts.
	st, err := store.Open(ctx, old, store.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	waiting, err := st.CreateWorkflow(ctx, store.NewWorkflow{AgentID: "agent-old", Type: "customer_followup",
		Mode: "execute", TotalSteps: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	s := start(t, backends[0], func(c *service.Config) { c.DataDir = dir })
	s.waitStatus(waiting.ID, "completed", 60*time.Second)
	a := s.submit("agent-new", "customer_followup")
	s.waitStatus(a.WorkflowID, "completed", 60*time.Second)

	st, err = store.Open(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if w, err := st.GetWorkflow(ctx, a.WorkflowID); err != nil || w.Status != store.StatusCompleted {
		t.Errorf("new workflow in %s: %s %v; want completed", old, w.Status, err)
	}
	if tables(t, s.cfg.QueueDBPath())["workflows"] {
		t.Errorf("%s got a workflows table although %s holds the workflows", s.cfg.QueueDBPath(), old)
	}
}

// tables returns the names of the tables of the SQLite file at path.
func tables(t *testing.T, path string) map[string]bool {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	names := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names[n] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}
