package queue_test

import (
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// TestJitter: a wait is a random duration in [d/2, d], and the waits of processes retrying
// together differ.
func TestJitter(t *testing.T) {
	t.Parallel()
	const d = 5 * time.Second
	seen := map[time.Duration]bool{}
	for range 1000 {
		j := queue.Jitter(d)
		if j < d/2 || j > d {
			t.Fatalf("Jitter(%s) = %s, want within [%s, %s]", d, j, d/2, d)
		}
		seen[j] = true
	}
	if len(seen) < 900 {
		t.Errorf("1000 waits of Jitter(%s) took %d values: they do not spread", d, len(seen))
	}
	if j := queue.Jitter(0); j != 0 {
		t.Errorf("Jitter(0) = %s, want 0", j)
	}
}
