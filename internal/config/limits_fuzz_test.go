package config_test

import (
	"maps"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/queue"
)

// FuzzParseQueueLimits checks ParseQueueLimits (the queues file, DOMINION_QUEUES) on any
// YAML: it never panics, and accepted limits, written back as YAML (rates in their text form,
// as the broker stores them), read back the same: nothing is accepted that its own text form
// does not say.
func FuzzParseQueueLimits(f *testing.F) {
	for _, s := range []string{
		"queues:\n  emails:\n    rate: 100/s\n    burst: 10\n    concurrency: 5\n    keys:\n      \"customer:\": {concurrency: 1}\n" +
			"    types:\n      email.report: {rate: 5/m}\n  default:\n    concurrency: 2\n",
		"queues: {q: {rate: 10/500ms}}\n",
		"queues: {q: {rate: 3/1h30m, burst: 1}}\n",
		"", "queues: {}\n", "queues:\n  q:\n    rate: 100\n", "queues:\n  q:\n    concurency: 1\n",
		"queues:\n  q:\n    concurrency: -1\n", "queues:\n  a/b:\n    concurrency: 1\n",
		"queues:\n  q:\n    keys: {\"a{\": {concurrency: 1}}\n",
		"queues: {q: {rate: {n: 1000000, per: 1000000}}}\n", // refused: a rate is text only
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		limits, err := config.ParseQueueLimits(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseQueueLimits(%q): an empty error", data)
			}
			return
		}
		text, err := yaml.Marshal(map[string]any{"queues": limits})
		if err != nil {
			t.Fatalf("ParseQueueLimits(%q) = %v, which YAML cannot write: %v", data, limits, err)
		}
		again, err := config.ParseQueueLimits(text)
		if err != nil || !reflect.DeepEqual(normalLimits(again), normalLimits(limits)) {
			t.Fatalf("ParseQueueLimits(%q) = %v, written %q, reads back as %v, %v", data, limits, text, again, err)
		}
	})
}

// normalLimits returns limits with empty key and type maps nil, as YAML writes both alike.
func normalLimits(limits map[string]queue.QueueLimits) map[string]queue.QueueLimits {
	out := maps.Clone(limits)
	for q, l := range out {
		if len(l.Keys) == 0 {
			l.Keys = nil
		}
		if len(l.Types) == 0 {
			l.Types = nil
		}
		out[q] = l
	}
	return out
}
