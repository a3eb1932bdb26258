// Package jobs holds Dominion's built-in job types, registered by every `dominion worker`:
// they need no application code, so they serve to check a deployment, to load-test it and to
// exercise failures and retries.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// The built-in job types.
const (
	// Noop does nothing and succeeds.
	Noop = "dominion.noop"
	// Sleep waits for {"ms": N} milliseconds (or until its context is done) and succeeds;
	// its result is {"slept_ms": N}.
	Sleep = "dominion.sleep"
	// Fail fails with {"message": "…", "retryable": bool}: a non-retryable failure (the
	// default) sends the job straight to dead.
	Fail = "dominion.fail"
)

// SleepPayload is the payload of a Sleep job.
type SleepPayload struct {
	MS int64 `json:"ms"`
}

// FailPayload is the payload of a Fail job.
type FailPayload struct {
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// Register registers every built-in job type on w.
func Register(w *queue.Worker) {
	w.HandleFunc(Noop, noop)
	w.HandleFunc(Sleep, sleep)
	w.HandleFunc(Fail, fail)
}

func noop(context.Context, *queue.Job) (any, error) { return nil, nil }

func sleep(ctx context.Context, job *queue.Job) (any, error) {
	var p SleepPayload
	if len(job.Payload) > 0 {
		if err := job.Decode(&p); err != nil {
			return nil, err
		}
	}
	if p.MS < 0 {
		return nil, queue.NoRetry(fmt.Errorf("%s: ms is %d, want 0 or more", Sleep, p.MS))
	}
	t := time.NewTimer(time.Duration(p.MS) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return map[string]int64{"slept_ms": p.MS}, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: interrupted: %w", Sleep, context.Cause(ctx))
	}
}

func fail(_ context.Context, job *queue.Job) (any, error) {
	var p FailPayload
	if len(job.Payload) > 0 {
		if err := job.Decode(&p); err != nil {
			return nil, err
		}
	}
	if p.Message == "" {
		p.Message = "failed on purpose"
	}
	err := errors.New(p.Message)
	if !p.Retryable {
		err = queue.NoRetry(err)
	}
	return nil, err
}
