package redisbroker

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

func TestPackedRoundTrip(t *testing.T) {
	t.Parallel()
	base := queue.Job{ID: "01J", Queue: "q", Type: "t", MaxRetries: 3, EnqueuedAt: time.Unix(0, 1700000000123456789)}
	cases := map[string]func(*queue.Job){
		"minimal":      func(*queue.Job) {},
		"payload":      func(j *queue.Job) { j.Payload = []byte(`{"a":[1,2,{"b":"}\"{"}],"c":null}`) },
		"scalar":       func(j *queue.Job) { j.Payload = []byte(`"x"`) },
		"escapes":      func(j *queue.Job) { j.Type, j.UniqueKey = "a\"b\\c\n", `k"\u00e9` },
		"unicode":      func(j *queue.Job) { j.Type, j.UniqueKey = "envoyer.é-邮件", "ключ" },
		"durations":    func(j *queue.Job) { j.Timeout, j.UniqueFor, j.ResultTTL = time.Second, time.Hour, 24*time.Hour },
		"zero retries": func(j *queue.Job) { j.MaxRetries = 0; j.Payload = []byte(`1`) },
	}
	for name, edit := range cases {
		j := base
		edit(&j)
		packed := string(appendPacked(nil, &j))
		var want packedJob
		if err := json.Unmarshal([]byte(packed), &want); err != nil {
			t.Fatalf("%s: %s is not JSON: %v", name, packed, err)
		}
		got, ok := parsePacked(packed)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: parsePacked(%s) = %+v, %v\nwant %+v", name, packed, got, ok, want)
		}
		job, err := decodePacked(packed, nil)
		if err != nil || job.Type != j.Type || job.UniqueKey != j.UniqueKey || string(job.Payload) != string(j.Payload) ||
			job.Timeout != j.Timeout || job.MaxRetries != j.MaxRetries || !job.EnqueuedAt.Equal(j.EnqueuedAt) {
			t.Fatalf("%s: decoded %+v, %v", name, job, err)
		}
	}
	// Another layout falls back to encoding/json.
	if _, ok := parsePacked(`{"i":"x", "m":1}`); ok {
		t.Fatal("parsePacked accepted a layout it does not know")
	}
	job, err := decodePacked(`{"i":"x", "m":1}`, nil)
	if err != nil || job.ID != "x" || job.MaxRetries != 1 {
		t.Fatalf("slow road: %+v, %v", job, err)
	}
}

func BenchmarkDecodePacked(b *testing.B) {
	j := queue.Job{ID: queue.NewID(), Queue: "default", Type: "email.send", Payload: []byte(`{"to":"a@example.com","n":12}`),
		MaxRetries: 3, ResultTTL: 24 * time.Hour, EnqueuedAt: time.Now()}
	packed := string(appendPacked(nil, &j))
	for b.Loop() {
		if _, err := decodePacked(packed, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParsePacked checks that parsePacked never panics on a stored field d of any shape (a
// hash written by hand, or by another version), and that what it accepts as JSON it reads as
// encoding/json does.
func FuzzParsePacked(f *testing.F) {
	j := queue.Job{ID: "01J", Queue: "q", Type: "t", MaxRetries: 3, Timeout: time.Second,
		UniqueKey: "k", Metadata: map[string]string{"a": "b"}, Payload: []byte(`{"x":1}`)}
	f.Add(string(appendPacked(nil, &j)))
	f.Add(`{"m":1,"i":"x"}`)
	f.Add(`{"md":{"a":"b"},"m":}`)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parsePacked(s)
		if !ok || !json.Valid([]byte(s)) {
			return
		}
		var want packedJob
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			return // a shape encoding/json refuses (decodePacked then fails too)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parsePacked(%q) = %+v, want %+v", s, got, want)
		}
	})
}
