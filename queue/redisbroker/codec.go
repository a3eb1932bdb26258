package redisbroker

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/codex-dominion/dominion/queue"
)

// A job is stored as a hash (see doc.go): field d packs the parts that never change, as JSON
// made here; short fields hold the parts the scripts change, so that they never parse JSON on
// the hot path. d starts with {"m":<max retries>,"rt":<result TTL, ns>, which scripts read
// with an anchored pattern.
//
// Hash fields:
//
//	d    packed immutable fields (packedJob); a new pending job has no other field
//	s    state; absent means pending
//	a    attempt (runs started)
//	t    result TTL in ms (how long completed and canceled jobs are kept), copied from d by
//	     the first fetch
//	u    unique key, when the job has one
//	r    run-at in ms, for scheduled and retry jobs
//	st   started at, ms       w   worker ID of the latest attempt
//	f    finished at, ms      res result (JSON)
//	c    "1" when cancellation was requested while active
//	rv   retried at, ms: when Retry or RetryAll last sent the job back to pending
//	pr   priority, when not 0 (also in d, for Go; this one for the scripts)
//	dl   deadline in ms, when set (also in d, for Go; this one for the scripts)
//	n    number of errors recorded; e1…en the errors, oldest first (storedError JSON)
//	pg   the latest progress reported (storedProgress JSON, events.go)
//	kc   while active: the rate key whose running count the job holds (see lib.lua's unrun)
//	rs   "1" while the job waits for a rate slot of its key reserved for it (fetch.lua)
//	wn   while waiting: the number of its parents not finished yet (lib.lua's ended)
//	ra   "1": the job runs even when a parent ends dead or canceled (RunOnParentFailure)
//	ch   "1": the job has had children (dependents), listed in p:{q}:children:<id>
//	b    the ID of the job's batch (also in d, for Go)
//	ct   the token of the single retry or cancel that last moved or flagged the job (resend.go)

// packedJob is the JSON of field d.
type packedJob struct {
	MaxRetries int               `json:"m"`
	ID         string            `json:"i"`
	Queue      string            `json:"q"`
	Type       string            `json:"y"`
	Payload    json.RawMessage   `json:"p,omitempty"`
	Timeout    time.Duration     `json:"to,omitempty"`
	UniqueKey  string            `json:"uk,omitempty"`
	UniqueFor  time.Duration     `json:"uf,omitempty"`
	ResultTTL  time.Duration     `json:"rt,omitempty"`
	EnqueuedAt int64             `json:"e"` // Unix nanoseconds
	Metadata   map[string]string `json:"md,omitempty"`
	Priority   int               `json:"pr,omitempty"`
	Deadline   int64             `json:"dl,omitempty"` // Unix nanoseconds
	RateKey    string            `json:"rk,omitempty"`
	DependsOn  []string          `json:"dp,omitempty"`
	RunAnyway  bool              `json:"ra,omitempty"`
	Batch      string            `json:"b,omitempty"`
}

// appendPacked appends the d field of j to buf: max retries and result TTL first, where the
// scripts read them (lib.lua), payload last (for parsePacked). It is written by hand because it runs for every enqueued
// job; the payload must be valid JSON (checked by the caller).
func appendPacked(buf []byte, j *queue.Job) []byte {
	buf = append(buf, `{"m":`...)
	buf = strconv.AppendInt(buf, int64(j.MaxRetries), 10)
	buf = append(buf, `,"rt":`...)
	buf = strconv.AppendInt(buf, int64(j.ResultTTL), 10)
	if j.RateKey != "" { // third, where fetch.lua reads it (a rate key needs no escaping)
		buf = append(buf, `,"rk":`...)
		buf = appendJSONString(buf, j.RateKey)
	}
	buf = append(buf, `,"i":`...)
	buf = appendJSONString(buf, j.ID)
	buf = append(buf, `,"q":`...)
	buf = appendJSONString(buf, j.Queue)
	buf = append(buf, `,"y":`...)
	buf = appendJSONString(buf, j.Type)
	buf = appendNonZero(buf, `,"to":`, int64(j.Timeout))
	if j.UniqueKey != "" {
		buf = append(buf, `,"uk":`...)
		buf = appendJSONString(buf, j.UniqueKey)
	}
	buf = appendNonZero(buf, `,"uf":`, int64(j.UniqueFor))
	buf = appendNonZero(buf, `,"pr":`, int64(j.Priority))
	if !j.Deadline.IsZero() {
		buf = appendNonZero(buf, `,"dl":`, j.Deadline.UnixNano())
	}
	buf = append(buf, `,"e":`...)
	buf = strconv.AppendInt(buf, j.EnqueuedAt.UnixNano(), 10)
	if len(j.Metadata) > 0 {
		buf = append(buf, `,"md":`...)
		b, _ := json.Marshal(j.Metadata) // a map of strings always marshals
		buf = append(buf, b...)
	}
	if len(j.DependsOn) > 0 || j.RunOnParentFailure || j.Batch != "" { // rare: parsePacked leaves them to encoding/json
		b, _ := json.Marshal(struct {
			DependsOn []string `json:"dp,omitempty"`
			RunAnyway bool     `json:"ra,omitempty"`
			Batch     string   `json:"b,omitempty"`
		}{j.DependsOn, j.RunOnParentFailure, j.Batch})
		buf = append(append(buf, ','), b[1:len(b)-1]...)
	}
	if len(j.Payload) > 0 { // last, so that parsePacked need not scan it
		buf = append(buf, `,"p":`...)
		buf = append(buf, j.Payload...)
	}
	return append(buf, '}')
}

// appendNonZero appends key and n, unless n is 0.
func appendNonZero(buf []byte, key string, n int64) []byte {
	if n == 0 {
		return buf
	}
	return strconv.AppendInt(append(buf, key...), n, 10)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			b, _ := json.Marshal(s) // rare: escapes and non-ASCII
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// storedError is the JSON of an e<n> field. The lease-recovery script writes it too.
type storedError struct {
	Attempt int    `json:"a"`
	Error   string `json:"e"`
	Stack   string `json:"s,omitempty"`
	At      int64  `json:"t"` // Unix ms
}

func encodeError(e *queue.AttemptError) []byte {
	b, _ := json.Marshal(storedError{Attempt: e.Attempt, Error: e.Error, Stack: e.Stack, At: e.At.UnixMilli()})
	return b
}

// decodeJob builds a job from its hash, as read by HGETALL.
func decodeJob(h map[string]string) (*queue.Job, error) {
	var errs []numberedError
	for f, v := range h {
		if len(f) > 1 && f[0] == 'e' {
			if n, err := strconv.Atoi(f[1:]); err == nil {
				errs = append(errs, numberedError{n, v})
			}
		}
	}
	sort.Slice(errs, func(a, b int) bool { return errs[a].n < errs[b].n })
	raw := make([]string, len(errs))
	for i, e := range errs {
		raw[i] = e.raw
	}
	j, err := decodePacked(h["d"], raw)
	if err != nil {
		return nil, err
	}
	if s, ok := h["s"]; ok {
		j.State = queue.State(s)
	}
	j.Attempt, _ = strconv.Atoi(h["a"])
	j.RunAt, j.StartedAt, j.FinishedAt = msTime(h["r"]), msTime(h["st"]), msTime(h["f"])
	j.RetriedAt = msTime(h["rv"])
	j.WorkerID = h["w"]
	if res := h["res"]; res != "" {
		j.Result = json.RawMessage(res)
	}
	j.CancelRequested = h["c"] == "1"
	j.Progress = decodeProgress(h["pg"])
	return j, nil
}

// numberedError is the raw JSON of error field e<n>.
type numberedError struct {
	n   int
	raw string
}

// decodeLeased builds a job just leased by the fetch script from its packed fields and errors
// (the caller sets the rest).
func decodeLeased(packed string, errs []any) (*queue.Job, error) {
	raw := make([]string, len(errs))
	for i, e := range errs {
		raw[i], _ = e.(string)
	}
	return decodePacked(packed, raw)
}

// decodePacked builds a job from its packed fields and its errors' JSON, oldest first.
func decodePacked(packed string, errs []string) (*queue.Job, error) {
	if packed == "" {
		return nil, fmt.Errorf("job hash has no packed fields")
	}
	p, ok := parsePacked(packed)
	if !ok { // not in the layout appendPacked writes: take the slow road
		if err := json.Unmarshal([]byte(packed), &p); err != nil {
			return nil, fmt.Errorf("packed fields: %w", err)
		}
	}
	j := &queue.Job{
		ID: p.ID, Queue: p.Queue, Type: p.Type, Payload: p.Payload, State: queue.StatePending,
		MaxRetries: p.MaxRetries, Timeout: p.Timeout, UniqueKey: p.UniqueKey, UniqueFor: p.UniqueFor,
		ResultTTL: p.ResultTTL, EnqueuedAt: time.Unix(0, p.EnqueuedAt), Metadata: p.Metadata,
		Priority: p.Priority, RateKey: p.RateKey,
		DependsOn: p.DependsOn, RunOnParentFailure: p.RunAnyway, Batch: p.Batch,
	}
	if p.Deadline != 0 {
		j.Deadline = time.Unix(0, p.Deadline)
	}
	if len(errs) > 0 {
		j.Errors = make([]queue.AttemptError, 0, len(errs))
		for i, raw := range errs {
			var se storedError
			if err := json.Unmarshal([]byte(raw), &se); err != nil {
				return nil, fmt.Errorf("error %d: %w", i+1, err)
			}
			j.Errors = append(j.Errors, queue.AttemptError{Attempt: se.Attempt, Error: se.Error, Stack: se.Stack, At: time.UnixMilli(se.At)})
		}
	}
	return j, nil
}

// parsePacked reads a d field as appendPacked writes it (a flat object, payload last) without
// reflection, as it runs for every fetched job. It reports false for anything else.
func parsePacked(s string) (p packedJob, ok bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return p, false
	}
	i := 1
	for i < len(s)-1 {
		key, next, ok := jsonString(s, i)
		if !ok || next >= len(s) || s[next] != ':' {
			return p, false
		}
		i = next + 1
		if key == "p" { // the payload, always last
			p.Payload = json.RawMessage(strings.Trim(s[i:len(s)-1], " \t\r\n"))
			return p, true
		}
		if key == "md" {
			if p.Metadata, i, ok = parseStringMap(s, i); !ok {
				return p, false
			}
		} else {
			var str string
			var num int64
			if str, num, i, ok = packedValue(s, i, key); !ok || !p.set(key, str, num) {
				return p, false
			}
		}
		if i >= len(s)-1 { // the value ran into the closing brace: the text is cut
			return p, i == len(s)-1
		}
		if s[i] == ',' {
			i++
		}
	}
	return p, true
}

// packedValue reads the value of field key of a packed job at s[i]: a string for the fields
// that hold one, else an integer. It returns the index after it.
func packedValue(s string, i int, key string) (str string, num int64, next int, ok bool) {
	switch key {
	case "i", "q", "y", "uk", "rk":
		str, next, ok = jsonString(s, i)
		return str, 0, next, ok
	}
	start := i
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '-') {
		i++
	}
	num, err := strconv.ParseInt(s[start:i], 10, 64)
	return "", num, i, err == nil
}

// set stores the value of field key (str or num, as packedValue read it); false for a field
// it does not know.
func (p *packedJob) set(key, str string, num int64) bool {
	switch key {
	case "m":
		p.MaxRetries = int(num)
	case "i":
		p.ID = str
	case "q":
		p.Queue = str
	case "y":
		p.Type = str
	case "uk":
		p.UniqueKey = str
	case "rk":
		p.RateKey = str
	case "to":
		p.Timeout = time.Duration(num)
	case "uf":
		p.UniqueFor = time.Duration(num)
	case "rt":
		p.ResultTTL = time.Duration(num)
	case "e":
		p.EnqueuedAt = num
	case "pr":
		p.Priority = int(num)
	case "dl":
		p.Deadline = num
	default:
		return false
	}
	return true
}

// parseStringMap reads the JSON object of strings starting at s[i] and returns it and the
// index after it.
func parseStringMap(s string, i int) (map[string]string, int, bool) {
	if i >= len(s) || s[i] != '{' {
		return nil, i, false
	}
	m := map[string]string{}
	i++
	for i < len(s) && s[i] != '}' {
		k, next, ok := jsonString(s, i)
		if !ok || next >= len(s) || s[next] != ':' {
			return nil, i, false
		}
		v, next, ok := jsonString(s, next+1)
		if !ok || next >= len(s) {
			return nil, i, false
		}
		m[k] = v
		i = next
		if s[i] == ',' {
			i++
		}
	}
	if i >= len(s) {
		return nil, i, false
	}
	return m, i + 1, true
}

// jsonString reads the JSON string starting at s[i] and returns it and the index after it.
func jsonString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", i, false
	}
	escaped := false
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			if !escaped && utf8.ValidString(s[i+1:j]) { // else as encoding/json reads it
				return s[i+1 : j], j + 1, true
			}
			var out string
			if json.Unmarshal([]byte(s[i:j+1]), &out) != nil {
				return "", i, false
			}
			return out, j + 1, true
		}
	}
	return "", i, false
}

func msTime(v string) time.Time {
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
