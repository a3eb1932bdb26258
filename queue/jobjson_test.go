package queue_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// A job's JSON (what `dominion jobs --json` prints) gives durations in whole milliseconds, in
// fields that say so, as the HTTP API does; it reads back to the same job.
func TestJobJSONDurationsInMilliseconds(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	j := queue.Job{ID: "j1", Queue: "q", Type: "t", State: queue.StatePending, MaxRetries: 3,
		Timeout: 30 * time.Second, UniqueKey: "k", UniqueFor: time.Minute, ResultTTL: queue.DefaultResultTTL,
		Payload: json.RawMessage(`{"n":1}`), EnqueuedAt: at, Metadata: map[string]string{"traceparent": "00-x"},
		Errors: []queue.AttemptError{{Attempt: 1, Error: "boom", At: at}}}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"timeout_ms": 30000, "unique_ttl_ms": 60000, "result_ttl_ms": 86400000} {
		if fields[name] != want {
			t.Errorf("%s = %v, want %v in %s", name, fields[name], want, b)
		}
	}
	for _, old := range []string{"timeout", "unique_for", "result_ttl"} {
		if _, ok := fields[old]; ok {
			t.Errorf("%s (nanoseconds) still in %s", old, b)
		}
	}
	var back queue.Job
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, j) {
		t.Errorf("round trip: %+v, %v\nwant %+v", back, err, j)
	}
	if b, _ := json.Marshal(queue.Job{ID: "bare"}); strings.Contains(string(b), "_ms") {
		t.Errorf("zero durations are not left out: %s", b)
	}
}

// JSON that earlier versions printed, with nanosecond durations, still decodes.
func TestJobJSONReadsNanosecondFields(t *testing.T) {
	t.Parallel()
	old := `{"id":"j1","queue":"q","type":"t","state":"dead","attempt":1,"max_retries":3,"timeout":30000000000,` +
		`"unique_key":"k","unique_for":60000000000,"result_ttl":86400000000000}`
	var j queue.Job
	if err := json.Unmarshal([]byte(old), &j); err != nil {
		t.Fatal(err)
	}
	if j.ID != "j1" || j.State != queue.StateDead || j.Attempt != 1 || j.Timeout != 30*time.Second ||
		j.UniqueFor != time.Minute || j.ResultTTL != 24*time.Hour {
		t.Errorf("decoded %+v", j)
	}
	if err := json.Unmarshal([]byte(`{"id":"x","timeout_ms":"soon"}`), &j); err == nil {
		t.Error("a malformed duration decodes")
	}
}
