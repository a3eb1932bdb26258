package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

func jobsCommands() []command {
	return []command{
		{name: "list", summary: "list the jobs of a queue in a state", run: runJobsList},
		{name: "show", summary: "show a job: payload, result, errors, timestamps", run: runJobsShow},
		{name: "retry", summary: "run a dead, canceled, retrying or scheduled job now", run: runJobsRetry},
		{name: "cancel", summary: "cancel a job (a running job's context is canceled), or all jobs of a queue in a state", run: runJobsCancel},
		{name: "delete", summary: "delete a job that is not running", run: runJobsDelete},
		{name: "watch", summary: "print jobs' events (enqueued, started, progress, …) as they happen", run: runJobsWatch},
	}
}

func runJobsList(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "[--queue Q] [--state S] [--limit N] [--offset N] [--json]",
		"List the jobs of a queue in a state, oldest first (pending jobs in the order they run:\nhighest priority first, then oldest first).", 0, 0)
	q := f.Queue("`QUEUE` to list")
	stateName := f.String("state", string(queue.StatePending), "`STATE`: pending, active, scheduled, waiting, retry, dead, completed or canceled")
	limit := f.Int("limit", 20, "list at most `N` jobs")
	offset := f.Int("offset", 0, "skip the first `N` jobs")
	asJSON := f.Bool("json", false, "print a JSON array of jobs (durations in milliseconds: timeout_ms, unique_ttl_ms, result_ttl_ms)")
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	state, err := queue.ParseState(*stateName)
	if err != nil {
		return f.usageError("--state: %v", err)
	}
	if *limit < 0 || *offset < 0 {
		return f.usageError("--limit and --offset must not be negative")
	}
	return a.withClient(ctx, path, func(c *queue.Client) int {
		jobs, err := c.List(ctx, *q, state, *offset, *limit)
		if err != nil {
			return a.runtimeError(path, err)
		}
		if *asJSON {
			if jobs == nil {
				jobs = []*queue.Job{}
			}
			return a.printJSON(path, jobs)
		}
		if len(jobs) == 0 {
			fmt.Fprintf(a.stdout, "No %s jobs in queue %s.\n", state, *q)
			return exitOK
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTYPE\tPRIORITY\tRATE KEY\tATTEMPT\tENQUEUED\tRUN AT\tFINISHED\tLAST ERROR")
		for _, j := range jobs {
			lastErr := ""
			if len(j.Errors) > 0 {
				lastErr = oneLine(j.Errors[len(j.Errors)-1].Error, 60)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Type, j.Priority, j.RateKey, attempts(j),
				fmtTime(j.EnqueuedAt), fmtTime(j.RunAt), fmtTime(j.FinishedAt), lastErr)
		}
		tw.Flush()
		return exitOK
	})
}

func runJobsShow(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "ID [--json]", "Show a job: its state, payload and result (pretty-printed), each failed attempt's error,\nand its timestamps.", 1, 1)
	asJSON := f.Bool("json", false, "print the job as a JSON object (durations in milliseconds: timeout_ms, unique_ttl_ms, result_ttl_ms)")
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	return a.withClient(ctx, path, func(c *queue.Client) int {
		job, err := c.Get(ctx, pos[0])
		if err != nil {
			return a.runtimeError(path, err)
		}
		if *asJSON {
			return a.printJSON(path, job)
		}
		printJob(a.stdout, job)
		return exitOK
	})
}

func printJob(w io.Writer, j *queue.Job) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("ID", j.ID)
	row("Type", j.Type)
	row("Queue", j.Queue)
	state := string(j.State)
	if j.CancelRequested {
		state += " (cancellation requested)"
	}
	row("State", state)
	row("Attempt", attempts(j))
	row("Priority", strconv.Itoa(j.Priority))
	row("Deadline", fmtTime(j.Deadline))
	row("Rate key", j.RateKey)
	if j.Timeout > 0 {
		row("Timeout", j.Timeout.String())
	}
	row("Enqueued", fmtTime(j.EnqueuedAt))
	row("Run at", fmtTime(j.RunAt))
	row("Started", fmtTime(j.StartedAt))
	row("Finished", fmtTime(j.FinishedAt))
	row("Worker", j.WorkerID)
	row("Depends on", strings.Join(j.DependsOn, ", "))
	if j.RunOnParentFailure {
		row("On parent failure", "runs anyway")
	}
	row("Batch", j.Batch)
	if p := j.Progress; p != nil {
		row("Progress", strings.TrimSpace(fmt.Sprintf("%d%% %s", p.Percent, p.Message))+" (at "+fmtTime(p.At)+")")
	}
	if j.UniqueKey != "" {
		row("Unique key", fmt.Sprintf("%s (for %s)", j.UniqueKey, j.UniqueFor))
	}
	if j.ResultTTL > 0 {
		row("Result TTL", j.ResultTTL.String())
	}
	tw.Flush()
	fmt.Fprintf(w, "Payload:\n%s\n", indent(prettyJSON(j.Payload), "  "))
	fmt.Fprintf(w, "Result:\n%s\n", indent(prettyJSON(j.Result), "  "))
	if len(j.Errors) == 0 {
		fmt.Fprintln(w, "Errors: none")
		return
	}
	fmt.Fprintln(w, "Errors:")
	for _, e := range j.Errors {
		fmt.Fprintf(w, "  attempt %d at %s:\n%s\n", e.Attempt, fmtTime(e.At), indent(e.Error, "    "))
		if e.Stack != "" {
			fmt.Fprintf(w, "    stack:\n%s\n", indent(e.Stack, "      "))
		}
	}
}

// prettyJSON indents raw, or says it is empty.
func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "(none)"
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

// attempts is "attempt/maximum": a job runs at most MaxRetries+1 times.
func attempts(j *queue.Job) string { return fmt.Sprintf("%d/%d", j.Attempt, j.MaxRetries+1) }

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02T15:04:05.000Z07:00")
}

// oneLine keeps the first line of s, cut to at most n runes.
func oneLine(s string, n int) string {
	s, _, cut := strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	if cut {
		return s + " …"
	}
	return s
}

func runJobsRetry(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "ID | --all-dead [--queue Q]", "Send a dead, canceled, retrying or scheduled job back to pending, to run now with its\nattempts reset; with --all-dead, every dead job of the queue. A workflow's job\n(execute_workflow) is not sent back alone: its workflow is retried, as its dashboard page\nand POST /api/workflows/{id}/retry do, and resumes after its last finished step under a\nnew job (the workflow store is opened as 'dominion worker' opens it).", 0, 1)
	allDead := f.Bool("all-dead", false, "retry every dead job of the queue")
	q := f.Queue("`QUEUE` of --all-dead")
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	queueSet := false
	f.Visit(func(fl *flag.Flag) {
		if fl.Name == "queue" {
			queueSet = true
		}
	})
	switch {
	case *allDead && len(pos) > 0:
		return f.usageError("give either a job ID or --all-dead, not both")
	case !*allDead && len(pos) == 0:
		return f.usageError("missing argument: want a job ID or --all-dead")
	case !*allDead && queueSet:
		return f.usageError("--queue goes with --all-dead")
	}
	return a.withClient(ctx, path, func(c *queue.Client) int {
		wf := &lazyWorkflows{a: a, c: c}
		defer wf.close()
		if *allDead {
			return a.retryAllDead(ctx, path, c, wf, *q)
		}
		res, err := workflow.RetryJob(ctx, c, wf, pos[0])
		if err != nil {
			return a.runtimeError(path, explain(err))
		}
		if w := res.Workflow; w != nil {
			a.printRetriedWorkflow(*w)
			return exitOK
		}
		fmt.Fprintf(a.stdout, "Retried job %s: it is pending.\n", pos[0])
		return exitOK
	})
}

// retryAllDead retries the dead jobs of queue q (workflow.RetryJobs): the workflows of its
// execute_workflow jobs are retried, the other jobs sent back to pending.
func (a *app) retryAllDead(ctx context.Context, path string, c *queue.Client, wf workflow.Retrier, q string) int {
	res, err := workflow.RetryJobs(ctx, c, wf, q, queue.StateDead)
	for _, w := range res.Workflows {
		a.printRetriedWorkflow(w)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(a.stdout, "Workflow %s: not retried (%v).\n", s.WorkflowID, s.Err)
	}
	if err != nil {
		return a.runtimeError(path, err)
	}
	if len(res.Workflows)+len(res.Skipped) == 0 {
		fmt.Fprintf(a.stdout, "Retried %d dead jobs of queue %s.\n", res.Jobs, q)
		return exitOK
	}
	fmt.Fprintf(a.stdout, "Retried %d dead jobs of queue %s, and %d workflows of its dead workflow jobs.\n", res.Jobs, q, len(res.Workflows))
	return exitOK
}

func (a *app) printRetriedWorkflow(w store.Workflow) {
	fmt.Fprintf(a.stdout, "Retried workflow %s (its job's workflow): it is %s, as job %s, and resumes after its last finished step.\n", w.ID, w.Status, w.JobID)
}

// lazyWorkflows retries workflows on the workflow store, opened (as 'dominion worker' opens
// it) the first time a workflow is to be retried: a plain job's retry needs no store.
type lazyWorkflows struct {
	a   *app
	c   *queue.Client
	wf  *service.Workflows
	err error
}

func (l *lazyWorkflows) Retry(ctx context.Context, id string) (store.Workflow, error) {
	if l.wf == nil && l.err == nil {
		l.wf, l.err = service.OpenWorkflows(ctx, service.WorkflowsConfig{Config: l.a.cfg, Client: l.c, Logger: l.a.log})
	}
	if l.err != nil {
		return store.Workflow{}, l.err
	}
	return l.wf.Engine.Retry(ctx, id)
}

func (l *lazyWorkflows) close() {
	if l.wf == nil {
		return
	}
	if err := l.wf.Store.Close(); err != nil {
		l.a.log.Warn("close store", "err", l.a.cfg.Redact(err.Error()))
	}
}

func runJobsCancel(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "ID | --all --state S [--queue Q]", "Cancel a job: a pending, scheduled, retrying or waiting job is canceled at once; a running job's\ncontext is canceled and the job ends canceled when its handler returns. With --all, cancel\nevery job of the queue in state S (pending, scheduled, retry or waiting) at once.", 0, 1)
	all := f.Bool("all", false, "cancel every job of the queue in the state given by --state")
	q := f.Queue("`QUEUE` of --all")
	stateName := f.String("state", "", "`STATE` of --all: pending, scheduled, retry or waiting")
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	switch {
	case *all && len(pos) > 0:
		return f.usageError("give either a job ID or --all, not both")
	case !*all && len(pos) == 0:
		return f.usageError("missing argument: want a job ID or --all")
	case !*all && (set["queue"] || set["state"]):
		return f.usageError("--queue and --state go with --all")
	case *all && !set["state"]:
		return f.usageError("--all needs --state: pending, scheduled, retry or waiting")
	}
	if *all {
		state, err := queue.ParseState(*stateName)
		if err != nil {
			return f.usageError("--state: %v", err)
		}
		switch state {
		case queue.StatePending, queue.StateScheduled, queue.StateRetry, queue.StateWaiting:
		default:
			return f.usageError("--state: only pending, scheduled, retry or waiting jobs can be canceled all at once, not %s", state)
		}
		return a.withClient(ctx, path, func(c *queue.Client) int {
			n, err := c.CancelAll(ctx, *q, state)
			if err != nil {
				return a.runtimeError(path, err)
			}
			noun := "jobs"
			if n == 1 {
				noun = "job"
			}
			fmt.Fprintf(a.stdout, "Canceled %d %s %s of queue %s.\n", n, state, noun, *q)
			return exitOK
		})
	}
	return a.withClient(ctx, path, func(c *queue.Client) int {
		st, err := c.Cancel(ctx, pos[0])
		if err != nil {
			return a.runtimeError(path, explain(err))
		}
		if st == queue.StateActive {
			fmt.Fprintf(a.stdout, "Job %s is running: cancellation requested.\n", pos[0])
		} else {
			fmt.Fprintf(a.stdout, "Job %s is %s.\n", pos[0], st)
		}
		return exitOK
	})
}

func runJobsDelete(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "ID", "Delete a job that is not running (cancel a running job first).", 1, 1)
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	return a.withClient(ctx, path, func(c *queue.Client) int {
		if err := c.Delete(ctx, pos[0]); err != nil {
			return a.runtimeError(path, explain(err))
		}
		fmt.Fprintf(a.stdout, "Deleted job %s.\n", pos[0])
		return exitOK
	})
}

// explain adds what to do to an ErrInvalidState.
func explain(err error) error {
	if errors.Is(err, queue.ErrInvalidState) {
		return fmt.Errorf("%w (see its state with 'dominion jobs show ID')", err)
	}
	return err
}
