package main

import (
	"context"
	"fmt"

	"github.com/codex-dominion/dominion/queue"
)

func queuesCommands() []command {
	return []command{
		{name: "pause", summary: "stop workers from starting the queue's jobs", run: runQueuesPause},
		{name: "resume", summary: "let workers start the queue's jobs again", run: runQueuesResume},
		{name: "delete", summary: "remove a queue that has no pending, running, scheduled or retrying jobs", run: runQueuesDelete},
	}
}

func runQueuesPause(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "QUEUE", `Pause a queue: workers start none of its jobs (running jobs finish) until it is resumed.
The queue must exist (have had a job): a misspelled name is refused rather than paused.`, 1, 1)
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	if err := queue.CheckQueueName(pos[0]); err != nil {
		return f.usageError("%v", err)
	}
	return a.withClient(ctx, path, func(c *queue.Client) int {
		if err := c.Pause(ctx, pos[0]); err != nil {
			return a.runtimeError(path, err)
		}
		fmt.Fprintf(a.stdout, "Paused queue %s.\n", pos[0])
		return exitOK
	})
}

func runQueuesResume(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "QUEUE", "Resume a paused queue.", 1, 1)
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	if err := queue.CheckQueueName(pos[0]); err != nil {
		return f.usageError("%v", err)
	}
	return a.withClient(ctx, path, func(c *queue.Client) int {
		if err := c.Resume(ctx, pos[0]); err != nil {
			return a.runtimeError(path, err)
		}
		fmt.Fprintf(a.stdout, "Resumed queue %s.\n", pos[0])
		return exitOK
	})
}

func runQueuesDelete(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "QUEUE", `Remove a queue, with its finished jobs (completed, dead, canceled), counters and pause
flag, so that it no longer shows in info and the dashboard. A queue with pending, running,
scheduled or retrying jobs is refused: cancel or delete those first.`, 1, 1)
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	if err := queue.CheckQueueName(pos[0]); err != nil {
		return f.usageError("%v", err)
	}
	name := pos[0]
	return a.withClient(ctx, path, func(c *queue.Client) int {
		q, err := c.Queue(ctx, name)
		if err != nil {
			return a.runtimeError(path, err)
		}
		if live := q.Pending + q.Active + q.Scheduled + q.Retry; live > 0 {
			return a.runtimeError(path, fmt.Errorf("queue %s is not empty: %d pending, %d running, %d scheduled, %d retrying jobs (cancel them with 'dominion jobs cancel --all --queue %s --state S')",
				name, q.Pending, q.Active, q.Scheduled, q.Retry, name))
		}
		if err := c.Broker().RemoveQueue(ctx, name); err != nil {
			return a.runtimeError(path, fmt.Errorf("remove queue %s: %w", name, err))
		}
		fmt.Fprintf(a.stdout, "Deleted queue %s (%d finished jobs removed).\n", name, q.Completed+q.Dead+q.Canceled)
		return exitOK
	})
}
