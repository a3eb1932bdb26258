package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/queue"
)

// TestQueueLimitsFile: Load reads DOMINION_QUEUES into the queues' limits, and refuses a bad
// file with an error naming the variable and the problem.
func TestQueueLimitsFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "queues.yaml")
	if err := os.WriteFile(good, []byte(`queues:
  emails:
    rate: 100/s
    burst: 10
    concurrency: 5
    keys:
      "customer:": {concurrency: 1}
    types:
      email.report: {rate: 5/m}
  default:
    concurrency: 2
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(func(k string) string {
		if k == config.EnvQueues {
			return good
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	emails := c.QueueLimits["emails"]
	want := queue.QueueLimits{
		Queue: queue.Limit{Rate: queue.Rate{N: 100, Per: time.Second}, Burst: 10, Concurrency: 5},
		Keys:  map[string]queue.Limit{"customer:": {Concurrency: 1}},
		Types: map[string]queue.Limit{"email.report": {Rate: queue.Rate{N: 5, Per: time.Minute}}},
	}
	if emails.String() != want.String() || c.QueueLimits["default"].Queue.Concurrency != 2 || len(c.QueueLimits) != 2 {
		t.Fatalf("limits = %v, want emails %v and default concurrency 2", c.QueueLimits, want)
	}
	bad := map[string]string{
		"":                                      "empty",
		"queues: {}\n":                          "no queue defined",
		"queues:\n  q:\n    rate: 100\n":        `rate "100"`,
		"queues:\n  q:\n    concurency: 1\n":    "concurency",
		"queues:\n  q:\n    concurrency: -1\n":  "queue q: concurrency -1",
		"queues:\n  a/b:\n    concurrency: 1\n": `queue name "a/b"`,
		"queues:\n  q:\n    keys: {\"a{\": {concurrency: 1}}\n": "key prefix",
	}
	for body, msg := range bad {
		_, err := config.ParseQueueLimits([]byte(body))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("file %q: error %v, want one saying %q", body, err, msg)
		}
	}
	_, err = config.Load(func(k string) string {
		if k == config.EnvQueues {
			return filepath.Join(dir, "missing.yaml")
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "DOMINION_QUEUES") {
		t.Fatalf("a missing queues file: %v", err)
	}
}
