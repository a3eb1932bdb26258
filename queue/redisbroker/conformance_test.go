package redisbroker

import (
	"testing"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/queuetest"
)

// TestConformance runs the queue.Broker conformance suite against the Redis broker.
func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T) queue.Broker { return newBroker(t) })
}
