package redisbroker

import (
	"context"
	"embed"
	"regexp"
	"strings"

	"github.com/redis/go-redis/v9"
)

// luaFS holds the Lua scripts; the definitions of lib.lua that a script uses are prepended
// to it (withLib).
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
	schedule, history, unblock, worker         *redis.Script // need none of lib.lua
}

func newScripts() *scripts {
	lib := parseLib(readLua("lib"))
	load := func(name string) *redis.Script { return redis.NewScript(withLib(lib, readLua(name))) }
	return &scripts{
		enqueue: load("enqueue"), fetch: load("fetch"), finish: load("finish"),
		requeue: load("requeue"), heartbeat: load("heartbeat"),
		cancel: load("cancel"), cancelAll: load("cancelall"), retry: load("retry"), retryAll: load("retryall"),
		del: load("delete"), delAll: load("deleteall"),
		pause: load("pause"), resume: load("resume"), wake: load("wake"), progress: load("progress"), setLimits: load("setlimits"),
		pending: load("pending"), listPending: load("listpending"),
		enqueueGraph: load("enqueuegraph"), openBatch: load("openbatch"), sealBatch: load("sealbatch"),
		schedule: redis.NewScript(readLua("schedule")), history: redis.NewScript(readLua("history")),
		unblock: redis.NewScript(readLua("unblock")), worker: redis.NewScript(readLua("worker")),
	}
}

func readLua(name string) string {
	b, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic("redisbroker: missing embedded script " + name) // a build defect, not a runtime condition
	}
	return string(b)
}

// libDef is one top-level definition of lib.lua: a local function, table or constant.
type libDef struct {
	name string // the local it declares
	text string // its source, from its "local" line to the line before the next definition
}

// declared matches the line that starts a definition of lib.lua, and captures its name.
var declared = regexp.MustCompile(`^local (?:function ([A-Za-z_][A-Za-z0-9_]*) ?\(|([A-Za-z_][A-Za-z0-9_]*) =)`)

// parseLib splits lib.lua into its definitions, in order. Every line of lib.lua at column 0
// is a definition's first line ("local …"), the end of one ("end", "}"), a comment or
// blank; comments and blank lines at column 0 are left out. Anything else is a defect of
// lib.lua, which this refuses rather than run it in the wrong place.
func parseLib(src string) []libDef {
	var defs []libDef
	for line := range strings.Lines(src) {
		switch {
		case strings.HasPrefix(line, "local "):
			m := declared.FindStringSubmatch(line)
			if m == nil {
				panic("redisbroker: lib.lua: a definition that declares no single name: " + line)
			}
			defs = append(defs, libDef{name: m[1] + m[2], text: line})
		case strings.HasPrefix(line, "--") || strings.TrimSpace(line) == "":
		case len(defs) > 0 && (line[0] == ' ' || strings.HasPrefix(line, "end") || strings.HasPrefix(line, "}")):
			defs[len(defs)-1].text += line
		default:
			panic("redisbroker: lib.lua: a top-level statement that is not a local definition: " + line)
		}
	}
	return defs
}

// withLib returns body preceded by the definitions of lib that it uses, directly or through
// another definition, in lib's order. Redis runs a script's top level on every call, building
// each definition anew (a closure or a table each): all of lib.lua cost each call about 4 µs
// of redis-server's time, as much as the commands of a single job's enqueue. A Lua local can
// be used only by its name, so a name that appears nowhere is a definition not needed (a
// name in a comment or a string only costs a definition built for nothing).
func withLib(lib []libDef, body string) string {
	used := make([]bool, len(lib))
	text := body
	for i := len(lib) - 1; i >= 0; i-- { // a definition uses only those before it
		if usesName(text, lib[i].name) {
			used[i] = true
			text += lib[i].text
		}
	}
	var b strings.Builder
	for i, d := range lib {
		if used[i] {
			b.WriteString(d.text)
		}
	}
	b.WriteString(body)
	return b.String()
}

// usesName reports whether Lua source src holds the identifier name as a whole word.
func usesName(src, name string) bool {
	for i := 0; ; {
		k := strings.Index(src[i:], name)
		if k < 0 {
			return false
		}
		start, end := i+k, i+k+len(name)
		if (start == 0 || !isIdentByte(src[start-1])) && (end == len(src) || !isIdentByte(src[end])) {
			return true
		}
		i = end
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
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
