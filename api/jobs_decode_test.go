package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/workflow"
)

var jobCodes = []string{
	CodeMalformedJSON, CodeInvalidType, CodeUnknownField,
	workflow.CodeRequired, workflow.CodeOutOfRange, workflow.CodeInvalid,
}

// built applies a decoded job's options as the queue library will.
func built(j newJob) queue.Job {
	job := queue.Job{Type: j.Type, Payload: j.Payload, Queue: queue.DefaultQueue}
	for _, o := range j.Options {
		o(&job)
	}
	return job
}

func TestDecodeJobs(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)
	jobs, batch, e := decodeJobs([]byte(`{"type":"t","payload":{ "a" : [1, 2] },"queue":"q","id":"i","delay_ms":1500,
		"max_retries":0,"timeout_ms":2000,"unique_key":"k","unique_ttl_ms":60000,"result_ttl_ms":5000}`), now)
	if e != nil || batch || len(jobs) != 1 {
		t.Fatalf("%v %v %d", e, batch, len(jobs))
	}
	got := built(jobs[0])
	want := queue.Job{Type: "t", Payload: json.RawMessage(`{"a":[1,2]}`), Queue: "q", ID: "i",
		RunAt: now.Add(1500 * time.Millisecond), MaxRetries: 0, Timeout: 2 * time.Second,
		UniqueKey: "k", UniqueFor: time.Minute, ResultTTL: 5 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	jobs, batch, e = decodeJobs([]byte(`{"jobs":[{"type":"a","run_at":"2026-12-01T00:00:00+01:00"},{"type":"b","unique_ttl_ms":10,"payload":[1]}]}`), now)
	if e != nil || !batch || len(jobs) != 2 {
		t.Fatalf("%v %v %d", e, batch, len(jobs))
	}
	if b := built(jobs[1]); b.UniqueKey != `b:[1]` || !built(jobs[0]).RunAt.Equal(time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("list: %+v %+v", built(jobs[0]), b)
	}
}

func TestCleanEscapes(t *testing.T) {
	t.Parallel()
	for raw, ok := range map[string]bool{
		`"plain"`: true, `"\\u0000"`: true, `"\u00e9\n\"\\"`: true, `"\ud83d\ude00"`: true, `{"\u0041":1}`: true,
		`"\u0000"`: false, `"a\u0000b"`: false, `"\ud83d"`: false, `"\ude00"`: false, `"\ud83d\u0041"`: false,
		`{"\u0000":1}`: false, `"\\\u0000"`: false, `"\ud83d\\"`: false,
	} {
		if got := cleanEscapes([]byte(raw)); got != ok {
			t.Errorf("%s: %v, want %v", raw, got, ok)
		}
	}
}

// FuzzDecodeJobs checks that the POST /api/jobs decoder never panics, that every refusal is a
// 400 with a known code, a message and a field path into the body, and that what it accepts
// is what the queue library takes: valid names, payloads that are valid JSON without NUL,
// sane numbers. The f.Add seeds run in every `go test`; `go test -fuzz FuzzDecodeJobs ./api`
// explores further.
func FuzzDecodeJobs(f *testing.F) {
	for _, s := range []string{
		`{"type":"t"}`,
		`{"type":"t","payload":{"a":"b"},"queue":"q","id":"x:1","delay_ms":0,"max_retries":1000,"timeout_ms":1}`,
		`{"type":"t","run_at":"2026-12-01T00:00:00Z","unique_key":"k","unique_ttl_ms":1,"result_ttl_ms":0}`,
		`{"jobs":[{"type":"a"},{"type":"b","payload":null},{"type":"c","payload":"\u00e9"}]}`,
		`{"jobs":[{"type":"a"},{"type":1}]}`, `{"jobs":[]}`, `{"jobs":null}`, `{"jobs":[null]}`,
		`{"type":"t","payload":"\u0000"}`, `{"type":"t","payload":["\ud800"]}`, `{"type":"t\u0007"}`,
		`{"type":"t","max_retries":1e3}`, `{"type":"t","max_retries":1e400}`, `{"type":"t","delay_ms":-0}`,
		`{"type":"t","delay_ms":1,"run_at":"x"}`, `{"type":"t","unique_key":""}`, `{"type":"t","id":"a/b"}`,
		`{"type":"t","type":"u"}`, `{}`, `[]`, `null`, ``, `{`, `{"type":"t"}{}`, "{\"type\":\"\xff\"}",
		`{"type":"` + strings.Repeat("y", 300) + `"}`,
		` {"jobs" : [ {"type":"a","type":"b"} , {"\u0074ype":"c","payload":[1, 2]} ] } `, `{"jobs":[{}],"jobs":[{"type":"a"}]}`,
		`{"jobs":[{"type":"a"}],"queue":"q"}`, `{"jobs":[{"type":"a"}]}x`, `{"JOBS":[{"type":"a"}]}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		// The one-pass parse of a list agrees with the careful one wherever it answers.
		if _, quick, ok := quickBatch(body); ok {
			_, careful, isBatch, e := carefulSplit(body)
			if e != nil || !isBatch || !reflect.DeepEqual(quick, careful) {
				t.Fatalf("%q: quickBatch %v, carefulSplit %v (%v)", body, quick, careful, e)
			}
		}
		jobs, _, e := decodeJobs(body, now)
		if e != nil {
			if e.Status != http.StatusBadRequest || !slices.Contains(jobCodes, e.Code) || e.Message == "" {
				t.Fatalf("bad error %+v for %q", e, body)
			}
			if _, err := json.Marshal(errorBody{Error: e}); err != nil {
				t.Fatalf("error does not encode: %v", err)
			}
			return
		}
		if len(jobs) == 0 || len(jobs) > MaxJobsPerRequest || !json.Valid(body) {
			t.Fatalf("accepted %q as %d jobs", body, len(jobs))
		}
		for _, j := range jobs {
			job := built(j)
			if job.Type == "" || !utf8.ValidString(job.Type) || strings.ContainsRune(job.Type, 0) ||
				checkName(job.Queue, "queue", "") != nil || (job.ID != "" && checkName(job.ID, "id", "") != nil) ||
				job.MaxRetries < 0 || job.Timeout < 0 || job.UniqueFor < 0 || job.ResultTTL < 0 ||
				(job.UniqueKey != "" && job.UniqueFor <= 0) || job.RunAt.Sub(now) > maxJobDuration {
				t.Fatalf("accepted %q as %+v", body, job)
			}
			if len(job.Payload) > 0 && (!json.Valid(job.Payload) || !cleanEscapes(job.Payload)) {
				t.Fatalf("accepted payload %q", job.Payload)
			}
		}
	})
}

// BenchmarkDecodeJobs decodes a list of 1,000 jobs, as BenchmarkEnqueueBatch sends them.
func BenchmarkDecodeJobs(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"jobs":[`)
	for i := range MaxJobsPerRequest {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"type":"email.send","payload":{"to":"user-%d@example.com","template":"welcome","user_id":%d}}`, i, i)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	now := time.Now()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, e := decodeJobs(body, now); e != nil {
			b.Fatal(e)
		}
	}
}
