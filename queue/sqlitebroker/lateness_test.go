package sqlitebroker

import (
	"testing"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/queuetest"
)

// BenchmarkLateness measures how late delayed jobs and retries start (docs/BENCHMARKS.md,
// "Scheduling"): go test -run '^$' -bench Lateness -benchtime 3x ./queue/sqlitebroker
func BenchmarkLateness(b *testing.B) {
	queuetest.BenchLateness(b, func(tb testing.TB) queue.Broker { return newBroker(tb) })
}
