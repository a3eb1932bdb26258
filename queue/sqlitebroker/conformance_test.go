package sqlitebroker

import (
	"testing"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/queuetest"
)

// TestConformance runs the queue library's conformance suite against the embedded broker,
// each test on a file of its own.
func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T) queue.Broker { return newBroker(t) })
}
