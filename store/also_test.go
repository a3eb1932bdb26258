package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/codex-dominion/dominion/store"
)

// NewWorkflow.Also runs in the transaction of the insert: concurrent creates (grouped into
// one statement) whose Also fails leave no workflow, the others are stored, and a JobID
// stores the workflow as enqueued, out of the outbox. A PostgreSQL store refuses both.
func TestCreateWorkflowAlso(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := open(t, sqliteDSN(t))
	errFail := errors.New("refused")
	const n = 40
	ids := make([]string, n)
	errs := make([]error, n)
	created := make([]store.Workflow, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, _ := store.NewID()
			ids[i] = id
			nw := store.NewWorkflow{ID: id, AgentID: "a", Type: "t", Mode: "execute", JobID: id,
				Also: func(tx store.DBTX) error {
					if _, err := tx.ExecContext(ctx, `SELECT 1`); err != nil {
						return err
					}
					if i%3 == 0 {
						return fmt.Errorf("workflow %d: %w", i, errFail)
					}
					return nil
				}}
			if i%4 == 1 {
				nw.IdempotencyKey, nw.Fingerprint = "key-"+id, "f"
			}
			created[i], errs[i] = st.CreateWorkflow(ctx, nw)
		})
	}
	wg.Wait()
	for i, id := range ids {
		w, err := st.GetWorkflow(ctx, id)
		if i%3 == 0 {
			if !errors.Is(errs[i], errFail) || !errors.Is(err, store.ErrNotFound) {
				t.Errorf("workflow %d: create %v, get %v; want Also's error and no workflow", i, errs[i], err)
			}
			continue
		}
		if errs[i] != nil || err != nil || w.JobID != id || !w.Enqueued() {
			t.Errorf("workflow %d: create %v, get %v, job %q enqueued %v; want it stored as enqueued", i, errs[i], err, w.JobID, w.Enqueued())
			continue
		}
		w.Steps, w.Metrics, w.Runs = nil, nil, nil
		if !reflect.DeepEqual(created[i], w) {
			t.Errorf("workflow %d: CreateWorkflow returned\n%+v\nGetWorkflow reads\n%+v", i, created[i], w)
		}
	}
	if waiting, err := st.CountPendingEnqueue(ctx); err != nil || waiting != 0 {
		t.Errorf("outbox: %d %v, want 0", waiting, err)
	}

	pg := open(t, postgresDSN(t))
	if _, err := pg.CreateWorkflow(ctx, store.NewWorkflow{AgentID: "a", Type: "t", JobID: "j"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("PostgreSQL create with a job id: %v, want ErrInvalid", err)
	}
}
