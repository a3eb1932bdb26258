package workflow_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// TestStepsReportProgress: an execute_workflow job reports each step as it starts ("step k of
// n: name", k-1 of n done), as progress events in order and as the job's stored progress.
func TestStepsReportProgress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTypes(workflow.Type{Name: "three_steps", Steps: []workflow.StepSpec{
		{Name: "fetch", Kind: workflow.KindDelay, Duration: 300 * time.Millisecond},
		{Name: "transform", Kind: workflow.KindDelay, Duration: 300 * time.Millisecond},
		{Name: "send", Kind: workflow.KindDelay, Duration: 10 * time.Millisecond},
	}}))
	sub, err := e.client.Subscribe(t.Context(), queue.EventFilter{Queues: []string{workflow.DefaultQueue},
		Kinds: []queue.EventKind{queue.EventProgress}})
	if err != nil {
		t.Fatal(err)
	}
	e.startWorker(nil)
	acc := e.submit("three_steps")
	e.waitStatus(acc.Workflow.ID, store.StatusCompleted)
	job := e.waitJob(acc.JobID, queue.StateCompleted)
	if p := job.Progress; p == nil || p.Message != "step 3 of 3: send" || p.Percent != 66 {
		t.Fatalf("job's progress = %+v, want 66 %% step 3 of 3: send", p)
	}
	want := []string{"0 step 1 of 3: fetch", "33 step 2 of 3: transform", "66 step 3 of 3: send"}
	var got []string
	for len(got) < len(want) {
		select {
		case ev := <-sub.Events():
			if ev.JobID == acc.JobID && ev.Progress != nil {
				got = append(got, fmt.Sprintf("%d %s", ev.Progress.Percent, ev.Progress.Message))
			}
		case <-time.After(waitFor):
			t.Fatalf("progress events %q, want %q", got, want)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("progress events %q, want %q", got, want)
	}
}
