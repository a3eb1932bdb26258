package queue

import (
	"math"
	"slices"
	"testing"
)

// TestWeightedShuffleExtremeWeights draws the order of queues whose weights a program set
// without bounds (the largest int, zero, a negative one): every draw must return each queue
// once, without a panic (their sum overflowed an int, and rand.N panicked), and the queue of
// the largest weight comes first far more often than the others.
func TestWeightedShuffleExtremeWeights(t *testing.T) {
	t.Parallel()
	qs := []QueueWeight{{"zero", 0}, {"huge", math.MaxInt}, {"negative", math.MinInt}, {"one", 1}}
	first := map[string]int{}
	for range 1000 {
		order := slices.Clone(qs)
		weightedShuffle(order)
		names := make([]string, len(order))
		for i, q := range order {
			names[i] = q.Name
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"huge", "negative", "one", "zero"}) {
			t.Fatalf("a draw gave %v, want each queue once", names)
		}
		first[order[0].Name]++
	}
	if first["huge"] < 990 {
		t.Fatalf("the queue of the largest weight came first in %d of 1000 draws, want nearly all", first["huge"])
	}
}
