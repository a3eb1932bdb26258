package jobtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// RunAtTolerance is how far apart an expected and a stored run-at may be and still match:
// queue.RunIn reads the clock when the option is applied, so the same RunIn(d) gives a
// slightly later time in the assertion than it gave at enqueue.
const RunAtTolerance = 5 * time.Second

// Enqueued returns the jobs of type typ that match payload and opts, in enqueue order, in
// any state. A nil payload matches any payload; any other is compared with the stored one
// as JSON values (so map key order and spacing do not matter). Each option is compared on
// the field it sets: queue.OnQueue the queue, queue.MaxRetries the retries, queue.Timeout,
// queue.WithID, queue.Unique (key and duration), queue.ResultTTL, queue.Priority,
// queue.WithMetadata (the entries it sets must be there; others may be too), queue.RunAt and
// queue.RunIn the run-at and queue.Deadline the deadline, within RunAtTolerance. A payload that cannot be marshaled as JSON
// matches nothing (RequireEnqueued reports it).
func (b *Broker) Enqueued(typ string, payload any, opts ...queue.Option) []*queue.Job {
	m, err := newMatcher(typ, payload, opts)
	if err != nil {
		return nil
	}
	var out []*queue.Job
	for _, j := range b.Jobs() {
		if m.match(j) {
			out = append(out, j)
		}
	}
	return out
}

// matcher is an expected job: the fields its options set, and its payload as a JSON value.
type matcher struct {
	want       queue.Job
	anyPayload bool
	payload    any
}

// unset marks the fields no option set (unsetPriority the priority, whose range has -1).
const (
	unset         = -1
	unsetPriority = math.MinInt
)

func newMatcher(typ string, payload any, opts []queue.Option) (*matcher, error) {
	m := &matcher{anyPayload: payload == nil}
	m.want = queue.Job{Type: typ, MaxRetries: unset, Timeout: unset, ResultTTL: unset, UniqueFor: unset, Priority: unsetPriority}
	if payload != nil {
		raw, err := marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("jobtest: expected payload of %s: %w", typ, err)
		}
		m.want.Payload = raw
		if err := json.Unmarshal(raw, &m.payload); err != nil {
			return nil, fmt.Errorf("jobtest: expected payload of %s: %w", typ, err)
		}
	}
	for _, opt := range opts {
		opt(&m.want)
	}
	return m, nil
}

func marshal(v any) (json.RawMessage, error) {
	switch p := v.(type) {
	case json.RawMessage:
		return p, nil
	case []byte:
		return p, nil
	}
	return json.Marshal(v)
}

func (m *matcher) match(j *queue.Job) bool {
	w := &m.want
	switch {
	case j.Type != w.Type,
		w.Queue != "" && j.Queue != w.Queue,
		w.ID != "" && j.ID != w.ID,
		w.MaxRetries != unset && j.MaxRetries != w.MaxRetries,
		w.Timeout != unset && j.Timeout != w.Timeout,
		w.ResultTTL != unset && j.ResultTTL != w.ResultTTL,
		w.UniqueKey != "" && j.UniqueKey != w.UniqueKey,
		w.UniqueFor != unset && j.UniqueFor != w.UniqueFor,
		w.Priority != unsetPriority && j.Priority != w.Priority,
		!w.Deadline.IsZero() && j.Deadline.Sub(w.Deadline).Abs() > RunAtTolerance,
		!w.RunAt.IsZero() && j.RunAt.Sub(w.RunAt).Abs() > RunAtTolerance:
		return false
	}
	for k, v := range w.Metadata {
		if got, ok := j.Metadata[k]; !ok || got != v {
			return false
		}
	}
	if m.anyPayload {
		return true
	}
	var got any
	if err := json.Unmarshal(j.Payload, &got); err != nil {
		return false
	}
	return reflect.DeepEqual(got, m.payload)
}

// RequireEnqueued fails the test unless a job of type typ matching payload and opts (as in
// Broker.Enqueued) was enqueued, and returns the first such job. The failure lists what was
// enqueued instead.
func RequireEnqueued(t testing.TB, b *Broker, typ string, payload any, opts ...queue.Option) *queue.Job {
	t.Helper()
	if _, err := newMatcher(typ, payload, opts); err != nil {
		t.Fatal(err)
	}
	jobs := b.Enqueued(typ, payload, opts...)
	if len(jobs) == 0 {
		t.Fatalf("jobtest: no %s job with payload %s enqueued matching the options; enqueued: %s",
			typ, describePayload(payload), describe(b.Jobs()))
	}
	return jobs[0]
}

// RequireNotEnqueued fails the test if a job of type typ matching payload and opts (as in
// Broker.Enqueued) was enqueued.
func RequireNotEnqueued(t testing.TB, b *Broker, typ string, payload any, opts ...queue.Option) {
	t.Helper()
	if _, err := newMatcher(typ, payload, opts); err != nil {
		t.Fatal(err)
	}
	if jobs := b.Enqueued(typ, payload, opts...); len(jobs) > 0 {
		t.Fatalf("jobtest: %d %s job(s) with payload %s enqueued, want none: %s",
			len(jobs), typ, describePayload(payload), describe(jobs))
	}
}

func describePayload(payload any) string {
	if payload == nil {
		return "(any)"
	}
	raw, err := marshal(payload)
	if err != nil {
		return fmt.Sprintf("%v", payload)
	}
	return string(raw)
}

// describe lists jobs, one per line, for a failure message.
func describe(jobs []*queue.Job) string {
	if len(jobs) == 0 {
		return "none"
	}
	var sb strings.Builder
	for i, j := range jobs {
		if i == 20 {
			fmt.Fprintf(&sb, "\n\t… and %d more", len(jobs)-i)
			break
		}
		fmt.Fprintf(&sb, "\n\t%s: type %s, queue %s, payload %s, state %s, max retries %d", j.ID, j.Type, j.Queue, j.Payload, j.State, j.MaxRetries)
		if !j.RunAt.IsZero() {
			fmt.Fprintf(&sb, ", run at %s", j.RunAt.Format(time.RFC3339Nano))
		}
	}
	return sb.String()
}

// StartWorker runs w (a worker with its handlers registered, on a Broker of this package or
// any other) in the background until the test ends, then shuts it down gracefully; an error
// from Run fails the test.
func StartWorker(t testing.TB, w *queue.Worker) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("jobtest: worker %s: %v", w.ID(), err)
		}
	})
}

// DrainTimeout bounds Drain.
const DrainTimeout = 30 * time.Second

// Drain waits until b is idle (see Broker.WaitIdle): with a worker started by StartWorker,
// every runnable job has then been run through its real handler. It fails the test, naming
// the jobs still runnable, when that takes longer than DrainTimeout (a job on a queue no
// worker serves, or a handler that does not return).
func Drain(t testing.TB, b *Broker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), DrainTimeout)
	defer cancel()
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}
