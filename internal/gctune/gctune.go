package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// liveHeap is the runtime/metrics name of the heap the latest cycle left live.
const liveHeap = "/gc/heap/live:bytes"

// A Tuner sets the collector's target after every cycle until Stop.
type Tuner struct {
	floor   uint64
	most    int // the highest target
	sample  []metrics.Sample
	mu      sync.Mutex
	percent int // the target it set last
	stopped bool
}

// Start sets the collector's target now and after every cycle: Percent(live heap, floor,
// most).
func Start(floor uint64, most int) *Tuner {
	t := &Tuner{floor: floor, most: most, sample: []metrics.Sample{{Name: liveHeap}}}
	debug.SetGCPercent(100)
	t.percent = 100
	t.tune()
	return t
}

// Percent returns the target that gives a heap goal of floor for a live heap of live bytes,
// between 100 and most: most for a live heap of floor/(1+most/100) or less, 100 for floor/2
// or more (or before the first cycle has measured any).
func Percent(live, floor uint64, most int) int {
	if live == 0 || live >= floor/2 {
		return 100
	}
	return min(int(floor*100/live)-100, most)
}

// Current returns the target the tuner set last.
func (t *Tuner) Current() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.percent
}

// Stop stops tuning and puts Go's default target back.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	debug.SetGCPercent(100)
	t.percent = 100
}

// tune sets the target from the live heap, then arms a finalizer for the next cycle.
func (t *Tuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	metrics.Read(t.sample)
	var live uint64
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	if p := Percent(live, t.floor, t.most); p != t.percent {
		debug.SetGCPercent(p)
		t.percent = p
	}
	t.arm()
}

// cycleMark is an object nothing references: the cycle that finds it runs its finalizer.
type cycleMark struct{ t *Tuner }

func (t *Tuner) arm() {
	runtime.SetFinalizer(&cycleMark{t}, func(m *cycleMark) { m.t.tune() })
}
