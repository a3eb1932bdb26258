package main

import (
	"strings"
	"testing"
)

// TestQueuesLimit: dominion queues limit sets, changes, shows and clears a queue's limits in
// the broker, info shows them, and bad flags are refused with a usage error.
func TestQueuesLimit(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, tb testBroker) {
		cfg := tb.cfg
		ok(t, cfg, "enqueue", "dominion.noop", "--queue", "ql")
		if out := ok(t, cfg, "queues", "limit", "ql", "--rate", "100/s", "--burst", "10"); out != "Limits of queue ql: rate 100/s burst 10.\n" {
			t.Errorf("set rate: %q", out)
		}
		if out := ok(t, cfg, "queues", "limit", "ql", "--concurrency", "3"); out != "Limits of queue ql: rate 100/s burst 10 concurrency 3.\n" {
			t.Errorf("add concurrency: %q", out)
		}
		want := `Limits of queue ql: rate 100/s burst 10 concurrency 3; key "customer:" concurrency 1; type email rate 5/m.` + "\n"
		ok(t, cfg, "queues", "limit", "ql", "--key", "customer:", "--concurrency", "1")
		if out := ok(t, cfg, "queues", "limit", "ql", "--type", "email", "--rate", "5/m"); out != want {
			t.Errorf("add key and type limits: %q, want %q", out, want)
		}
		if out := ok(t, cfg, "queues", "limit", "ql"); out != want {
			t.Errorf("show: %q, want %q", out, want)
		}
		if human := ok(t, cfg, "info"); !strings.Contains(human, want) {
			t.Errorf("info does not show the limits:\n%s", human)
		}
		q := info(t, cfg).Queues[0]
		if q.Limits == nil || q.Limits.Queue.Concurrency != 3 || q.Limits.Keys["customer:"].Concurrency != 1 {
			t.Errorf("info --json limits: %+v", q.Limits)
		}
		if out := ok(t, cfg, "queues", "limit", "ql", "--key", "customer:", "--clear"); strings.Contains(out, "customer:") {
			t.Errorf("clear one key limit: %q", out)
		}
		if out := ok(t, cfg, "queues", "limit", "ql", "--clear"); out != "Limits of queue ql: none.\n" {
			t.Errorf("clear: %q", out)
		}
		if q := info(t, cfg).Queues[0]; q.Limits != nil {
			t.Errorf("info --json after clear: %+v", q.Limits)
		}
		for _, bad := range [][]string{
			{"--rate", "100"}, {"--rate", "0/s"}, {"--concurrency", "-1"}, {"--burst", "5"},
			{"--key", "a", "--type", "b", "--concurrency", "1"}, {"--key", "a{b}", "--concurrency", "1"},
		} {
			if r := dominion(t, cfg, append([]string{"queues", "limit", "ql"}, bad...)...); r.code != 2 {
				t.Errorf("queues limit ql %v: %s, want a usage error", bad, r)
			}
		}
	})
}
