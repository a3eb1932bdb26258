package sqlitebroker

import (
	"testing"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/queuetest"
)

// TestConformance runs the queue library's conformance suite against the embedded broker,
// each test on a file of its own; after each, the counts table must match the jobs.
func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T) queue.Broker {
		b := newBroker(t)
		t.Cleanup(func() { wantCountsExact(t, b) })
		return b
	})
}
