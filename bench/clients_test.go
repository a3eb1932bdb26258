package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

// The Redis clients Dominion could be built on, measured on what the broker asks of one
// (DESIGN.md: "go-redis or rueidis, choose by measurement"): go-redis v9, which the broker
// uses, and rueidis, whose pipelining is automatic. Each benchmark runs the same Lua script
// on a private redis-server through both and reports, per job, the wall time, this process's
// CPU and redis-server's:
//
//	cd bench && go test -run '^$' -bench Client -benchtime 200000x -count 3
//
// - ScriptBatch: one script call stores 500 jobs (an ID and 103 bytes of fields each, the
//   size of a no-op job's), as EnqueueMany's chunks do, one call at a time;
// - ScriptConcurrent: 50 goroutines each store one job per call, as 50 callers of Enqueue;
// - ScriptReply: one call returns 40 jobs of 5 values each, the shape of a fetch's reply,
//   decoded into Go values.

// The Lua scripts of the benchmarks: storing jobs, and a reply shaped as a fetch's.
const (
	storeScript = `for i = 1, #ARGV, 2 do redis.call('HSETNX', KEYS[1] .. ARGV[i], 'd', ARGV[i + 1]) end
local ids = {}
for i = 1, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
redis.call('RPUSH', KEYS[2], unpack(ids))
return #ids`
	replyScript = `local out, d = {}, string.rep('x', 103)
for i = 1, 40 do out[#out + 1] = 1; out[#out + 1] = i; out[#out + 1] = d; out[#out + 1] = {}; out[#out + 1] = 0 end
return out`
)

// scriptClient is one client library running a script: keys and args as strings, the reply
// decoded into the number of values it read.
type scriptClient interface {
	run(ctx context.Context, script string, keys, args []string) (int, error)
	Close()
}

type goRedisClient struct {
	rdb     *redis.Client
	scripts map[string]*redis.Script
}

func (c *goRedisClient) run(ctx context.Context, src string, keys, args []string) (int, error) {
	argv := make([]any, len(args))
	for i, a := range args {
		argv[i] = a
	}
	v, err := c.scripts[src].Run(ctx, c.rdb, keys, argv...).Result()
	if err != nil {
		return 0, err
	}
	return decodeGoRedis(v), nil
}

func decodeGoRedis(v any) int {
	switch x := v.(type) {
	case []any:
		n := 0
		for _, e := range x {
			n += decodeGoRedis(e)
		}
		return n
	case int64, string:
		return 1
	}
	return 0
}

func (c *goRedisClient) Close() { _ = c.rdb.Close() }

type rueidisClient struct {
	c       rueidis.Client
	scripts map[string]*rueidis.Lua
}

func (c *rueidisClient) run(ctx context.Context, src string, keys, args []string) (int, error) {
	msg, err := c.scripts[src].Exec(ctx, c.c, keys, args).ToMessage()
	if err != nil {
		return 0, err
	}
	return decodeRueidis(msg), nil
}

func decodeRueidis(m rueidis.RedisMessage) int {
	if m.IsArray() {
		arr, _ := m.ToArray()
		n := 0
		for _, e := range arr {
			n += decodeRueidis(e)
		}
		return n
	}
	if _, err := m.AsInt64(); err == nil {
		return 1
	}
	if _, err := m.ToString(); err == nil {
		return 1
	}
	return 0
}

func (c *rueidisClient) Close() { c.c.Close() }

// clientsUnder returns a go-redis and a rueidis client of the redis-server at addr, each with
// the benchmarks' scripts.
func clientsUnder(b *testing.B, addr string) map[string]scriptClient {
	b.Helper()
	g := &goRedisClient{rdb: redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64}), scripts: map[string]*redis.Script{}}
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		b.Fatal(err)
	}
	r := &rueidisClient{c: rc, scripts: map[string]*rueidis.Lua{}}
	for _, s := range []string{storeScript, replyScript} {
		g.scripts[s] = redis.NewScript(s)
		r.scripts[s] = rueidis.NewLuaScript(s)
	}
	out := map[string]scriptClient{"go-redis": g, "rueidis": r}
	b.Cleanup(func() {
		for _, c := range out {
			c.Close()
		}
	})
	return out
}

// benchClients runs body once per client library, on a private redis-server emptied before
// each, and reports per op: ns (wall), this process's CPU and redis-server's.
func benchClients(b *testing.B, body func(b *testing.B, c scriptClient)) {
	ctx := context.Background()
	addr, stop, err := startRedis(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(stop)
	info := redis.NewClient(&redis.Options{Addr: addr})
	b.Cleanup(func() { _ = info.Close() })
	clients := clientsUnder(b, addr)
	for _, name := range []string{"go-redis", "rueidis"} {
		b.Run(name, func(b *testing.B) {
			if err := info.FlushDB(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			r0, err := redisCPU(ctx, info)
			if err != nil {
				b.Fatal(err)
			}
			self0 := processCPU()
			b.ResetTimer()
			body(b, clients[name])
			b.StopTimer()
			self := processCPU() - self0
			r1, err := redisCPU(ctx, info)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(self.Microseconds())/float64(b.N), "client-µs/op")
			b.ReportMetric((r1-r0)*1e6/float64(b.N), "redis-µs/op")
		})
	}
}

// jobArgs returns the script arguments of n jobs from the first: an ID and 103 bytes of
// fields each.
func jobArgs(first, n int) []string {
	fields := strings.Repeat("f", 103)
	args := make([]string, 0, 2*n)
	for i := range n {
		args = append(args, fmt.Sprintf("%026d", first+i), fields)
	}
	return args
}

// BenchmarkClientScriptBatch: an op is one job, stored 500 to a call, one call at a time.
func BenchmarkClientScriptBatch(b *testing.B) {
	benchClients(b, func(b *testing.B, c scriptClient) {
		ctx, keys := context.Background(), []string{"job:", "pending"}
		for done := 0; done < b.N; done += 500 {
			if _, err := c.run(ctx, storeScript, keys, jobArgs(done, min(500, b.N-done))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkClientScriptConcurrent: an op is one job, stored one to a call by 50 goroutines.
func BenchmarkClientScriptConcurrent(b *testing.B) {
	benchClients(b, func(b *testing.B, c scriptClient) {
		ctx, keys := context.Background(), []string{"job:", "pending"}
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= b.N {
						return
					}
					if _, err := c.run(ctx, storeScript, keys, jobArgs(i, 1)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

// BenchmarkClientScriptReply: an op is one job of a fetch-shaped reply (40 to a call),
// decoded.
func BenchmarkClientScriptReply(b *testing.B) {
	benchClients(b, func(b *testing.B, c scriptClient) {
		ctx := context.Background()
		for done := 0; done < b.N; done += 40 {
			n, err := c.run(ctx, replyScript, []string{"k"}, nil)
			if err != nil || n != 40*4 {
				b.Fatalf("the reply held %d values (%v), want 160", n, err)
			}
		}
	})
}
