package store_test

import (
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/store"
)

// Log messages of an outage of the database (store/connect.go).
const (
	logStoreDown = "store unreachable"
	logStoreBack = "store reachable again"
)

// TestLazyOpenWaitsForPostgres opens a store with Lazy while its PostgreSQL server is down:
// Open succeeds, every call fails at once as unavailable and writes nothing, and once the
// server starts the store migrates the schema by itself and works. The outage is logged in
// one line and the return in one, however many calls failed meanwhile; a later outage the
// same. Without Lazy, Open fails.
func TestLazyOpenWaitsForPostgres(t *testing.T) {
	t.Parallel()
	srv := testenv.StartPostgres(t) // its own server: this test stops it
	dsn := srv.NewDatabase(t)
	srv.Stop()
	ctx := t.Context()

	if s, err := store.Open(ctx, dsn); err == nil || !store.IsUnavailable(err) {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("Open without Lazy while PostgreSQL is down: %v; want an unavailable error", err)
	}
	var logs testenv.LogBuffer
	s := open(t, dsn, store.Lazy(), store.WithLogger(logs.Logger()))
	for range 20 {
		_, err := s.CreateWorkflow(ctx, store.NewWorkflow{AgentID: "a", Type: "t"})
		if !store.IsUnavailable(err) {
			t.Fatalf("CreateWorkflow while PostgreSQL is down: %v; want an unavailable error", err)
		}
		if err := s.Ping(ctx); !store.IsUnavailable(err) {
			t.Fatalf("Ping while PostgreSQL is down: %v; want an unavailable error", err)
		}
	}
	if n := logs.Count(logStoreDown); n != 1 {
		t.Fatalf("%d lines say the store is unreachable, want 1:\n%s", n, logs.String())
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	var w store.Workflow
	testenv.Eventually(t, time.Minute, func() error {
		var err error
		w, err = s.CreateWorkflow(ctx, store.NewWorkflow{AgentID: "a", Type: "t"})
		return err
	})
	if page, err := s.ListWorkflows(ctx, store.ListFilter{}); err != nil || len(page.Workflows) != 1 {
		t.Fatalf("after the start: %d workflows (%v), want only the one created since", len(page.Workflows), err)
	}
	testenv.Until(t, 30*time.Second, "the return logged", func() bool { return logs.Count(logStoreBack) == 1 }, logs.String)

	// An outage after the start: one line when it goes, one when it is back.
	srv.Stop()
	for range 10 {
		if _, err := s.GetWorkflow(ctx, w.ID); !store.IsUnavailable(err) {
			t.Fatalf("GetWorkflow while PostgreSQL is down: %v; want an unavailable error", err)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, func() error {
		_, err := s.GetWorkflow(ctx, w.ID)
		return err
	})
	testenv.Until(t, 30*time.Second, "the second return logged", func() bool { return logs.Count(logStoreBack) == 2 }, logs.String)
	if n := logs.Count(logStoreDown); n != 2 {
		t.Fatalf("%d lines say the store is unreachable, want 2 (one per outage):\n%s", n, logs.String())
	}
}
