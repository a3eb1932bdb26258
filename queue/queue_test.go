package queue

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaultBackoffBounds(t *testing.T) {
	t.Parallel()
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 13: time.Hour, 100: time.Hour} {
		for range 200 {
			d := DefaultBackoff(attempt)
			if d < want/2 || d > want {
				t.Fatalf("DefaultBackoff(%d) = %s, want within [%s, %s]", attempt, d, want/2, want)
			}
		}
	}
}

func TestWeightedShuffleFollowsWeights(t *testing.T) {
	t.Parallel()
	first := map[string]int{}
	const n = 20000
	for range n {
		qs := []QueueWeight{{"critical", 6}, {"default", 3}, {"low", 1}}
		weightedShuffle(qs)
		first[qs[0].Name]++
		names := []string{qs[0].Name, qs[1].Name, qs[2].Name}
		slices.Sort(names)
		if !slices.Equal(names, []string{"critical", "default", "low"}) {
			t.Fatalf("shuffle lost or duplicated a queue: %v", qs)
		}
	}
	for name, share := range map[string]float64{"critical": 0.6, "default": 0.3, "low": 0.1} {
		got := float64(first[name]) / n
		if got < share-0.03 || got > share+0.03 {
			t.Errorf("%s first in %.3f of fetches, want about %.1f", name, got, share)
		}
	}
}

func TestStrictOrder(t *testing.T) {
	t.Parallel()
	w := NewWorker(nil, WorkerConfig{StrictPriority: true, Queues: []QueueWeight{{"low", 1}, {"critical", 6}, {"default", 3}}})
	if got := w.order(); !slices.Equal(got, []string{"critical", "default", "low"}) {
		t.Fatalf("strict order = %v", got)
	}
}

func TestNewIDSortableAndUnique(t *testing.T) {
	t.Parallel()
	ids := &idSource{batch: 7} // EnqueueMany's source, refilled every 7 IDs here
	for name, next := range map[string]func() string{
		"NewID":    NewID,
		"idSource": func() string { return ids.next(time.Now()) },
	} {
		seen := map[string]bool{}
		prev := ""
		for range 1000 {
			id := next()
			if len(id) != 26 || !validName(id) || seen[id] {
				t.Fatalf("%s: bad or repeated id %q", name, id)
			}
			seen[id] = true
			if id[:10] < prev {
				t.Fatalf("%s: time prefix went backwards: %s after %s", name, id[:10], prev)
			}
			prev = id[:10]
		}
	}
}

func TestClientRefusesInvalidJobs(t *testing.T) {
	t.Parallel()
	c := NewClient(nil) // never reaches the broker: every case fails validation first
	big := json.RawMessage(`"` + strings.Repeat("x", MaxPayloadBytes) + `"`)
	cases := map[string]struct {
		typ     string
		payload any
		opts    []Option
		want    string
	}{
		"empty type":       {"", nil, nil, "empty job type"},
		"bad queue":        {"t", nil, []Option{OnQueue("has space")}, "queue name"},
		"bad id":           {"t", nil, []Option{WithID("a/b")}, "job id"},
		"negative retries": {"t", nil, []Option{MaxRetries(-1)}, "negative"},
		"invalid raw json": {"t", json.RawMessage(`{oops`), nil, "not valid JSON"},
		"unmarshalable":    {"t", func() {}, nil, "payload"},
		"oversized":        {"t", big, nil, "over the"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Enqueue(t.Context(), tc.typ, tc.payload, tc.opts...)
			if !errors.Is(err, ErrInvalidJob) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidJob mentioning %q", err, tc.want)
			}
		})
	}
}

func TestDecodeFailureIsPermanent(t *testing.T) {
	t.Parallel()
	var v struct{ N int }
	j := &Job{ID: "1", Type: "t", Payload: json.RawMessage(`{"N":"x"}`)}
	if err := j.Decode(&v); !IsNoRetry(err) || !strings.Contains(err.Error(), "decode payload") {
		t.Fatalf("Decode error = %v, want a NoRetry decode error", err)
	}
	if err := (&Job{Payload: json.RawMessage(`{"N":4}`)}).Decode(&v); err != nil || v.N != 4 {
		t.Fatalf("Decode = %v, %+v", err, v)
	}
	if NoRetry(nil) != nil {
		t.Fatal("NoRetry(nil) != nil")
	}
}
