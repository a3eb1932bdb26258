package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/store"
)

// TestIsUnavailable stops PostgreSQL under an open store, both as `pg_ctl -m fast` and
// `-m immediate` do: every error the store returns meanwhile is IsUnavailable, and the store
// works again once the server is back. Errors about the request itself are not.
func TestIsUnavailable(t *testing.T) {
	t.Parallel()
	srv := testenv.StartPostgres(t) // its own server: the package's is shared by parallel tests
	s := open(t, srv.NewDatabase(t))
	ctx := t.Context()
	w, err := s.CreateWorkflow(ctx, store.NewWorkflow{AgentID: "a", Type: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, stop := range []struct {
		name string
		fn   func()
	}{{"fast", srv.Stop}, {"immediate", srv.StopImmediate}} {
		stop.fn()
		_, err := s.GetWorkflow(ctx, w.ID)
		if err == nil || !store.IsUnavailable(err) {
			t.Fatalf("%s stop: GetWorkflow error %v; want one IsUnavailable", stop.name, err)
		}
		if err := s.Ping(ctx); !store.IsUnavailable(err) {
			t.Fatalf("%s stop: Ping error %v; want one IsUnavailable", stop.name, err)
		}
		if _, err := s.StartAttempt(ctx, w.ID); !store.IsUnavailable(err) {
			t.Fatalf("%s stop: StartAttempt error %v; want one IsUnavailable", stop.name, err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 30*time.Second, func() error {
			_, err := s.GetWorkflow(ctx, w.ID)
			return err
		})
	}
	_, err = s.GetWorkflow(ctx, "missing")
	_, bad := s.CreateWorkflow(ctx, store.NewWorkflow{AgentID: "a\x00b", Type: "t"})
	for _, err := range []error{err, bad, errors.New("boom"), nil} {
		if store.IsUnavailable(err) {
			t.Errorf("IsUnavailable(%v) = true, want false", err)
		}
	}
}
