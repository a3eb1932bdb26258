package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/codex-dominion/dominion/internal/yamlfile"
	"github.com/codex-dominion/dominion/queue"
)

// maxQueuesFileBytes bounds the queues file (DOMINION_QUEUES).
const maxQueuesFileBytes = 1 << 20

// LoadQueueLimits reads the queues file (DOMINION_QUEUES): the limits of queues, which serve
// and worker store in the broker at start. "" gives none. The file looks like:
//
//	queues:
//	  emails:
//	    rate: 100/s
//	    burst: 10
//	    concurrency: 5
//	    keys:
//	      "customer:": {concurrency: 1}
//	    types:
//	      email.report: {rate: 5/m}
func LoadQueueLimits(path string) (map[string]queue.QueueLimits, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("queues file: %w", err)
	}
	limits, err := ParseQueueLimits(data)
	if err != nil {
		return nil, fmt.Errorf("queues file %s: %w", path, err)
	}
	return limits, nil
}

// ParseQueueLimits reads the YAML of a queues file (see LoadQueueLimits); every problem is an
// error naming the queue.
func ParseQueueLimits(data []byte) (map[string]queue.QueueLimits, error) {
	if len(data) > maxQueuesFileBytes {
		return nil, fmt.Errorf("%d bytes: at most %d", len(data), maxQueuesFileBytes)
	}
	var f struct {
		Queues map[string]queue.QueueLimits `yaml:"queues"`
	}
	if err := yamlfile.Decode(data, &f, "a queues: map"); err != nil {
		return nil, err
	}
	if len(f.Queues) == 0 {
		return nil, errors.New("no queue defined (a queues: map is needed)")
	}
	for _, q := range slices.Sorted(maps.Keys(f.Queues)) {
		if err := queue.CheckQueueName(q); err != nil {
			return nil, err
		}
		if err := f.Queues[q].Check(); err != nil {
			return nil, fmt.Errorf("queue %s: %w", q, err)
		}
	}
	return f.Queues, nil
}
