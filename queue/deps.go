package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrParentNotFound is wrapped by the error of a job refused at enqueue because a job it
// depends on does not exist (never enqueued, deleted, or its result TTL ran out). It wraps
// ErrInvalidJob.
var ErrParentNotFound = fmt.Errorf("%w: parent job not found", ErrInvalidJob)

// DependsOn makes the job wait (StateWaiting) until every job with those IDs has completed;
// it then becomes pending, in the same atomic step as the last parent's outcome. A parent
// that ends dead or canceled (or is deleted) cancels the job, with an error naming that
// parent, unless RunOnParentFailure is given. A parent already completed counts as done; a
// parent that does not exist refuses the job (ErrParentNotFound). A parent is looked up by
// its ID in the job's own queue first, then in the other queues. Parents enqueued in the same
// EnqueueMany call may come in any order; a cycle among them is refused (ErrInvalidJob).
// The job reads its parents' results with ParentResults while they are kept (ResultTTL).
func DependsOn(ids ...string) Option {
	return func(j *Job) {
		for _, id := range ids {
			if !slices.Contains(j.DependsOn, id) {
				j.DependsOn = append(j.DependsOn, id)
			}
		}
	}
}

// RunOnParentFailure makes a job with DependsOn run when its parents have all finished,
// whatever their outcome: a parent that ends dead or canceled counts as finished instead of
// canceling the job.
func RunOnParentFailure() Option { return func(j *Job) { j.RunOnParentFailure = true } }

// ParentResults returns the results of the parents (DependsOn) of the job whose handler got
// ctx, by parent ID: nil for a parent that completed without result, or that ended dead or
// canceled (with RunOnParentFailure). A parent deleted meanwhile, or whose result TTL ran out,
// gives an error wrapping ErrJobNotFound.
func ParentResults(ctx context.Context) (map[string]json.RawMessage, error) {
	job, ok := JobFromContext(ctx)
	r, ok2 := ctx.Value(progressKey{}).(*progressReporter)
	if !ok || !ok2 {
		return nil, errors.New("queue: ParentResults called outside a job's handler")
	}
	out := make(map[string]json.RawMessage, len(job.DependsOn))
	for _, id := range job.DependsOn {
		p, err := r.w.broker.Get(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("queue: result of parent %s of job %s: %w", id, job.ID, err)
		}
		out[id] = p.Result
	}
	return out, nil
}

// checkParents says what is wrong with the DependsOn of job, or returns nil.
func checkParents(job *Job) error {
	for _, id := range job.DependsOn {
		switch {
		case id == job.ID:
			return fmt.Errorf("%w: job %s depends on itself", ErrInvalidJob, id)
		case id == "" || len(id) > 200 || !validName(id):
			return fmt.Errorf("%w: parent id %q: use at most 200 letters, digits, '.', '_', '-' or ':'", ErrInvalidJob, id)
		}
	}
	if len(job.DependsOn) == 0 && job.RunOnParentFailure {
		return fmt.Errorf("%w: RunOnParentFailure without DependsOn", ErrInvalidJob)
	}
	return nil
}

// parentsFirst returns the order in which to hand jobs to the broker: every job after those
// of jobs it depends on (stable otherwise), or an error naming a dependency cycle. It returns
// nil, their own order, when no job has parents.
func parentsFirst(jobs []*Job) ([]int, error) {
	if !slices.ContainsFunc(jobs, func(j *Job) bool { return len(j.DependsOn) > 0 }) {
		return nil, nil
	}
	order := make([]int, 0, len(jobs))
	byID := make(map[string]int, len(jobs))
	for i, j := range jobs {
		if _, dup := byID[j.ID]; !dup {
			byID[j.ID] = i
		}
	}
	const (
		unseen = iota
		visiting
		done
	)
	mark := make([]int, len(jobs))
	var path []string
	var visit func(i int) error
	visit = func(i int) error {
		switch mark[i] {
		case done:
			return nil
		case visiting:
			cycle := append(path[slices.Index(path, jobs[i].ID):], jobs[i].ID)
			return fmt.Errorf("%w: dependency cycle %s", ErrInvalidJob, strings.Join(cycle, " -> "))
		}
		mark[i] = visiting
		path = append(path, jobs[i].ID)
		for _, p := range jobs[i].DependsOn {
			if k, ok := byID[p]; ok {
				if err := visit(k); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		mark[i] = done
		order = append(order, i)
		return nil
	}
	for i := range jobs {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// ParentFailedError is the error recorded for a job canceled because its parent ended as how
// (dead, canceled or deleted): "parent job <id> is <how>".
func ParentFailedError(parent, how string) string { return "parent job " + parent + " is " + how }
