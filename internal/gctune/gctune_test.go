package gctune_test

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/gctune"
	"github.com/codex-dominion/dominion/internal/testenv"
)

func TestPercent(t *testing.T) {
	t.Parallel()
	const mb = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},        // no cycle measured yet: Go's default
		{3 * mb, 400},   // dominion serve: the goal would be 64 MB, capped at 5 × 3 MB
		{12 * mb, 400},  // 64/12 − 1 = 433 %, capped
		{16 * mb, 300},  // 16 MB × 4 = 64 MB
		{20 * mb, 220},  // 20 MB × 3.2 = 64 MB
		{32 * mb, 100},  // half the floor: Go's default (its goal, 64 MB, is the floor)
		{500 * mb, 100}, // a worker holding large jobs: Go's default
	} {
		if got := gctune.Percent(c.live, 64*mb, 400); got != c.want {
			t.Errorf("Percent(%d MB live, 64 MB floor, max 400) = %d, want %d", c.live/mb, got, c.want)
		}
	}
}

// sink keeps the test's allocation live while the collector runs.
var sink [][]byte

// TestTunerFollowsLiveHeap runs the tuner in this process: a small live heap gets the
// maximum target, a live heap of more than half the floor gets Go's 100 after the next
// cycles, and Stop puts 100 back. It changes the process's collector, so it is not parallel.
func TestTunerFollowsLiveHeap(t *testing.T) {
	const floor = 64 << 20
	tu := gctune.Start(floor, 400)
	defer tu.Stop()
	atTarget := func(want int) func() error {
		return func() error {
			runtime.GC() // each cycle runs the tuner's finalizer after it
			if got := tu.Current(); got != want {
				return fmt.Errorf("target %d, want %d", got, want)
			}
			return nil
		}
	}
	testenv.Eventually(t, 10*time.Second, atTarget(400))
	for range 48 { // 48 MB live: more than half the floor
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1
		}
		sink = append(sink, b)
	}
	testenv.Eventually(t, 10*time.Second, atTarget(100))
	sink = nil
	testenv.Eventually(t, 10*time.Second, atTarget(400))
	tu.Stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after Stop the collector's target is %d, want Go's 100", got)
	}
}
