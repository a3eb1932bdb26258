package jobtest_test

import (
	"testing"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/jobtest"
	"github.com/codex-dominion/dominion/queue/queuetest"
)

// TestConformance runs the queue library's conformance suite against the in-memory broker:
// it is a real broker, not a stand-in.
func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T) queue.Broker {
		b := jobtest.NewBroker()
		t.Cleanup(func() { b.Close() })
		return b
	})
}
