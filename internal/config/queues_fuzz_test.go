package config_test

import (
	"math"
	"slices"
	"testing"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/queue"
)

// FuzzParseQueues checks ParseQueues (the worker's --queues) on any text: an accepted list has
// valid, distinct names and positive weights whose total a worker can draw from (an int), and
// reads back the same from its FormatQueues form; a refused one has an error saying why.
func FuzzParseQueues(f *testing.F) {
	for _, s := range []string{"critical=6,default=3,low=1", "workflows,default", "workflows=3, default=1,low",
		"a=x", "a=0", "a,,b", "=3", "a b=1", "a=1,a=2", "workflows=3=", " q = 2 ", "emails:bulk=10",
		"a=9223372036854775807,b=1"} { // the largest weight Atoi reads
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		qs, err := config.ParseQueues(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseQueues(%q): an empty error", s)
			}
			return
		}
		checkQueueList(t, s, qs)
		again, err := config.ParseQueues(queue.FormatQueues(qs))
		if err != nil || !slices.Equal(again, qs) {
			t.Fatalf("ParseQueues(%q) = %v, which reads back as %v, %v", s, qs, again, err)
		}
	})
}

// checkQueueList checks the queues ParseQueues(s) accepted: valid distinct names, positive
// weights, a total that fits in an int.
func checkQueueList(t *testing.T, s string, qs []queue.QueueWeight) {
	t.Helper()
	seen := map[string]bool{}
	total := 0
	for _, q := range qs {
		if err := queue.CheckQueueName(q.Name); err != nil || seen[q.Name] || q.Weight < 1 {
			t.Fatalf("ParseQueues(%q) accepted %v (name: %v, listed before: %t)", s, q, err, seen[q.Name])
		}
		seen[q.Name] = true
		if q.Weight > math.MaxInt-total {
			t.Fatalf("ParseQueues(%q): the weights add up beyond an int", s)
		}
		total += q.Weight
	}
}
