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
	}
}

func runQueuesPause(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "QUEUE", "Pause a queue: workers start none of its jobs (running jobs finish) until it is resumed.", 1, 1)
	pos, code, ok := f.parse(args)
	if !ok {
		return code
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
	return a.withClient(ctx, path, func(c *queue.Client) int {
		if err := c.Resume(ctx, pos[0]); err != nil {
			return a.runtimeError(path, err)
		}
		fmt.Fprintf(a.stdout, "Resumed queue %s.\n", pos[0])
		return exitOK
	})
}
