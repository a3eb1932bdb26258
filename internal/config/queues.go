package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/codex-dominion/dominion/queue"
)

// ParseQueues parses a worker's queue list: comma-separated names, each with an optional
// weight from 1 to queue.MaxQueueWeight, e.g. "critical=6,default=3,low=1" or "workflows,default"
// (weight 1).
func ParseQueues(s string) ([]queue.QueueWeight, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty queue list; want name[=weight],… e.g. workflows=3,default=1")
	}
	var out []queue.QueueWeight
	seen := map[string]bool{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		name, weight, hasWeight := strings.Cut(item, "=")
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			return nil, fmt.Errorf("empty queue name in %q; want name[=weight],… e.g. workflows=3,default=1", s)
		case queue.CheckQueueName(name) != nil:
			return nil, queue.CheckQueueName(name)
		case seen[name]:
			return nil, fmt.Errorf("queue %q is listed twice", name)
		}
		seen[name] = true
		w := 1
		if hasWeight {
			n, err := strconv.Atoi(strings.TrimSpace(weight))
			switch {
			case err != nil || n < 1:
				return nil, fmt.Errorf("queue %q: weight %q is not a positive integer", name, weight)
			case n > queue.MaxQueueWeight:
				return nil, fmt.Errorf("queue %q: weight %d is above %d", name, n, queue.MaxQueueWeight)
			}
			w = n
		}
		out = append(out, queue.QueueWeight{Name: name, Weight: w})
	}
	return out, nil
}
