package redisbroker

import (
	"context"
	"embed"

	"github.com/redis/go-redis/v9"
)

// luaFS holds the Lua scripts; lib.lua is prepended to every other one.
//
//go:embed lua/*.lua
var luaFS embed.FS

// scripts are the broker's Lua scripts, one per state transition.
type scripts struct {
	enqueue, fetch, finish, requeue, heartbeat *redis.Script
	cancel, cancelAll, retry, retryAll         *redis.Script
	del, delAll                                *redis.Script
	pause, resume, wake, progress, setLimits   *redis.Script
	pending, listPending                       *redis.Script
	enqueueGraph, openBatch, sealBatch         *redis.Script
	schedule, history, unblock                 *redis.Script // need none of lib.lua
}

func newScripts() *scripts {
	lib := readLua("lib")
	load := func(name string) *redis.Script { return redis.NewScript(lib + readLua(name)) }
	return &scripts{
		enqueue: load("enqueue"), fetch: load("fetch"), finish: load("finish"),
		requeue: load("requeue"), heartbeat: load("heartbeat"),
		cancel: load("cancel"), cancelAll: load("cancelall"), retry: load("retry"), retryAll: load("retryall"),
		del: load("delete"), delAll: load("deleteall"),
		pause: load("pause"), resume: load("resume"), wake: load("wake"), progress: load("progress"), setLimits: load("setlimits"),
		pending: load("pending"), listPending: load("listpending"),
		enqueueGraph: load("enqueuegraph"), openBatch: load("openbatch"), sealBatch: load("sealbatch"),
		schedule: redis.NewScript(readLua("schedule")), history: redis.NewScript(readLua("history")),
		unblock: redis.NewScript(readLua("unblock")),
	}
}

func readLua(name string) string {
	b, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic("redisbroker: missing embedded script " + name) // a build defect, not a runtime condition
	}
	return string(b)
}

// evalCall is one script call to run in a pipeline.
type evalCall struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
	// reloaded: the server did not know the script, which ran again with EVAL after the
	// rest of the pipeline
	reloaded bool
}

// run runs one script: EVALSHA, or EVAL when the server does not know the script yet.
func (b *Broker) run(ctx context.Context, s *redis.Script, keys []string, args ...any) *redis.Cmd {
	return s.Run(ctx, b.rdb, keys, args...)
}

// pipelined runs calls, and the commands more adds, in one round trip, with EVALSHA. The
// calls the server refused with NOSCRIPT (a restarted server, SCRIPT FLUSH) had no effect:
// they run again with EVAL, which also loads them. It returns the first error of any command.
func (b *Broker) pipelined(ctx context.Context, calls []*evalCall, more func(redis.Pipeliner)) error {
	if len(calls) == 1 && more == nil { // one call: no pipeline to pay for
		c := calls[0]
		c.cmd = b.run(ctx, c.script, c.keys, c.args...)
		return c.cmd.Err()
	}
	pipe := b.rdb.Pipeline()
	for _, c := range calls {
		c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	if more != nil {
		more(pipe)
	}
	cmds, _ := pipe.Exec(ctx)
	extra := cmds[len(calls):] // the commands of more
	var again []*evalCall
	for _, c := range calls {
		if redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
			again = append(again, c)
		}
	}
	if len(again) > 0 {
		pipe = b.rdb.Pipeline()
		for _, c := range again {
			c.cmd, c.reloaded = c.script.Eval(ctx, pipe, c.keys, c.args...), true
		}
		_, _ = pipe.Exec(ctx)
	}
	for _, c := range calls {
		if err := c.cmd.Err(); err != nil {
			return err
		}
	}
	for _, c := range extra {
		if err := c.Err(); err != nil && err != redis.Nil {
			return err
		}
	}
	return nil
}
