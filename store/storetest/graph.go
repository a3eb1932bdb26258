package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/codex-dominion/dominion/store"
)

// diamond is a → b, c → d.
var diamond = store.Graph{Names: []string{"a", "b", "c", "d"}, Needs: [][]int{nil, {0}, {0}, {1, 2}}}

// runIndexes returns the indexes of w's runs of its current attempt.
func runIndexes(w store.Workflow) []int {
	var out []int
	for _, r := range w.Runs {
		if r.Attempt == w.Attempts {
			out = append(out, r.Index)
		}
	}
	return out
}

func wantRuns(t *testing.T, what string, w store.Workflow, want ...int) {
	t.Helper()
	if got := runIndexes(w); !slices.Equal(got, want) {
		t.Fatalf("%s: released steps %v (runs %+v), want %v", what, got, w.Runs, want)
	}
}

func finishStep(t *testing.T, s store.Store, id string, attempt, index int) store.Workflow {
	t.Helper()
	w, err := s.FinishStep(t.Context(), id, store.Step{Index: index, Attempt: attempt,
		Output: json.RawMessage(fmt.Sprintf(`{"step":%d}`, index))}, diamond)
	if err != nil {
		t.Fatalf("FinishStep(%s, step %d, attempt %d): %v", id, index, attempt, err)
	}
	return w
}

func startGraph(t *testing.T, s store.Store, id string) store.Workflow {
	t.Helper()
	w, err := s.StartGraph(t.Context(), id, diamond)
	if err != nil {
		t.Fatalf("StartGraph(%s): %v", id, err)
	}
	return w
}

// testGraph walks a diamond through its steps: each transaction releases what the finished
// step unblocks, the last one completes the workflow with its metric.
func testGraph(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := create(t, s, store.NewWorkflow{TotalSteps: 4, WeeklySavings: 12.5})
	w = startGraph(t, s, w.ID)
	if w.Status != store.StatusRunning || w.Attempts != 1 {
		t.Fatalf("StartGraph: status %s attempts %d, want running 1", w.Status, w.Attempts)
	}
	wantRuns(t, "after StartGraph", w, 0)
	if r := w.Runs[0]; r.Name != "a" || r.State != store.StepReady || r.Tries != 0 || r.ReleasedAt.IsZero() {
		t.Fatalf("released root: %+v", r)
	}
	// A start job run again (a crash before its ack) keeps the attempt and the runs.
	w = startGraph(t, s, w.ID)
	if w.Attempts != 1 {
		t.Fatalf("StartGraph of a running workflow: attempts %d, want 1", w.Attempts)
	}
	wantRuns(t, "after StartGraph again", w, 0)
	if err := s.SetStepState(ctx, w.ID, 1, 0, store.StepRunning, ""); err != nil {
		t.Fatalf("SetStepState(a running): %v", err)
	}
	wantErr(t, "SetStepState of a step not released", s.SetStepState(ctx, w.ID, 1, 3, store.StepRunning, ""), store.ErrInvalid)
	wantErr(t, "SetStepState of another attempt", s.SetStepState(ctx, w.ID, 2, 0, store.StepRunning, ""), store.ErrStaleAttempt)
	if err := s.SetStepState(ctx, w.ID, 1, 0, store.StepFailed, "boom"); err != nil {
		t.Fatalf("SetStepState(a failed): %v", err)
	}
	if r := get(t, s, w.ID).Runs[0]; r.State != store.StepFailed || r.Error != "boom" || r.Tries != 1 {
		t.Fatalf("after a failed try: %+v, want failed, boom, 1 try", r)
	}
	w = finishStep(t, s, w.ID, 1, 0)
	wantRuns(t, "after a", w, 1, 2)
	if w.CurrentStep != 1 || len(w.Steps) != 1 || w.Steps[0].Name != "a" {
		t.Fatalf("after a: current step %d, steps %+v", w.CurrentStep, w.Steps)
	}
	_, err := s.FinishStep(ctx, w.ID, store.Step{Index: 1, Attempt: 2}, diamond)
	wantErr(t, "FinishStep of another attempt", err, store.ErrStaleAttempt)
	w = finishStep(t, s, w.ID, 1, 1)
	wantRuns(t, "after b (c still running)", w, 2)
	// Finishing b again (its job ran twice) changes nothing.
	w = finishStep(t, s, w.ID, 1, 1)
	wantRuns(t, "after b again", w, 2)
	w = finishStep(t, s, w.ID, 1, 2)
	wantRuns(t, "after c", w, 3)
	w = finishStep(t, s, w.ID, 1, 3)
	if w.Status != store.StatusCompleted || w.FinishedAt.IsZero() || len(w.Runs) != 0 || len(w.Steps) != 4 {
		t.Fatalf("after d: status %s, finished %v, runs %+v, %d steps; want completed, no runs, 4 steps",
			w.Status, w.FinishedAt, w.Runs, len(w.Steps))
	}
	if m, ok := w.LastAttempt(); !ok || m.Status != store.StatusCompleted || m.Savings != 12.5 || m.Attempt != 1 {
		t.Fatalf("metric after d: %+v (ok %v), want completed attempt 1 with savings 12.5", m, ok)
	}
	_, err = s.FinishStep(ctx, w.ID, store.Step{Index: 3, Attempt: 1}, diamond)
	wantState(t, "FinishStep of a completed workflow", err, store.StatusCompleted)
	_, err = s.StartGraph(ctx, w.ID, diamond)
	wantState(t, "StartGraph of a completed workflow", err, store.StatusCompleted)
	_, err = s.StartGraph(ctx, w.ID, store.Graph{Names: []string{"a"}, Needs: [][]int{{0}}})
	wantErr(t, "StartGraph of a step needing itself", err, store.ErrInvalid)
	_, err = s.FinishStep(ctx, w.ID, store.Step{Index: 4, Attempt: 1}, diamond)
	wantErr(t, "FinishStep of a step outside the graph", err, store.ErrInvalid)
}

// testGraphRetry: a canceled graph workflow retried keeps its finished steps and releases
// again, for the new attempt, the steps that had not finished.
func testGraphRetry(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := create(t, s, store.NewWorkflow{TotalSteps: 4})
	startGraph(t, s, w.ID)
	finishStep(t, s, w.ID, 1, 0)
	if err := s.SetStepState(ctx, w.ID, 1, 1, store.StepRunning, ""); err != nil {
		t.Fatalf("SetStepState: %v", err)
	}
	if _, err := s.CancelWorkflow(ctx, w.ID); err != nil {
		t.Fatalf("CancelWorkflow: %v", err)
	}
	wantState(t, "SetStepState of a canceled workflow", s.SetStepState(ctx, w.ID, 1, 2, store.StepRunning, ""), store.StatusCanceled)
	_, err := s.FinishStep(ctx, w.ID, store.Step{Index: 1, Attempt: 1}, diamond)
	wantState(t, "FinishStep of a canceled workflow", err, store.StatusCanceled)
	if got := get(t, s, w.ID); len(got.Runs) != 2 {
		t.Fatalf("canceled workflow's runs: %+v, want b and c kept (attempt 1)", got.Runs)
	}
	if _, err := s.RetryWorkflow(ctx, w.ID); err != nil {
		t.Fatalf("RetryWorkflow: %v", err)
	}
	w = startGraph(t, s, w.ID)
	if w.Attempts != 2 {
		t.Fatalf("attempts after retry: %d, want 2", w.Attempts)
	}
	wantRuns(t, "after retry", w, 1, 2)
	for _, r := range w.Runs {
		if r.State != store.StepReady || r.Tries != 0 {
			t.Fatalf("run after retry: %+v, want ready with no tries", r)
		}
	}
	if len(w.Steps) != 1 || w.Steps[0].Attempt != 1 {
		t.Fatalf("steps after retry: %+v, want a, finished by attempt 1", w.Steps)
	}
}

// testConcurrentFinishStep: b and c of many diamonds finish at the same moment; d is
// released every time, once.
func testConcurrentFinishStep(t *testing.T, s store.Store) {
	for range 10 {
		w := create(t, s, store.NewWorkflow{TotalSteps: 4})
		startGraph(t, s, w.ID)
		finishStep(t, s, w.ID, 1, 0)
		errs := make([]error, 2)
		parallel(2, func(i int) {
			_, errs[i] = s.FinishStep(t.Context(), w.ID, store.Step{Index: 1 + i, Attempt: 1}, diamond)
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("FinishStep(step %d): %v", i+1, err)
			}
		}
		wantRuns(t, "after b and c at once", get(t, s, w.ID), 3)
	}
}
