package api

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/codex-dominion/dominion/internal/httpx"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/workflow"
)

// Limits of POST /api/jobs.
const (
	// MaxJobsBodyBytes bounds the body of POST /api/jobs (a list of 1,000 jobs of a few KiB
	// each); a larger one is refused with 413.
	MaxJobsBodyBytes = 8 << 20
	// MaxJobsPerRequest bounds the jobs of one POST /api/jobs.
	MaxJobsPerRequest = 1000
	// maxJobTypeBytes bounds a job type, maxUniqueKeyBytes a unique key.
	maxJobTypeBytes   = 200
	maxUniqueKeyBytes = 1000
	// maxJobDuration bounds delay_ms, timeout_ms, unique_ttl_ms and result_ttl_ms, and how
	// far in the future run_at may be: one year.
	maxJobDuration = 366 * 24 * time.Hour
	// maxJobRetries bounds max_retries.
	maxJobRetries = 1000
)

// jobFields are the keys one job of POST /api/jobs may have.
var jobFields = []string{"type", "payload", "queue", "delay_ms", "run_at", "max_retries", "timeout_ms",
	"id", "unique_key", "unique_ttl_ms", "result_ttl_ms", "priority", "deadline", "rate_key",
	"depends_on", "run_on_parent_failure"}

// maxParents bounds the depends_on of one job.
const maxParents = 100

// newJob is one job of POST /api/jobs, decoded and checked.
type newJob struct {
	Type    string
	Payload json.RawMessage
	Options []queue.Option
}

// decodeJobs decodes a POST /api/jobs body: one job object, or {"jobs":[…]} with 1 to
// MaxJobsPerRequest of them. batch says which form it was. Every job is checked before any is
// stored, so one bad job refuses the whole request; the field of an error is a path into the
// body ("jobs[3].queue", or "queue" for a single job). now anchors delay_ms and run_at.
func decodeJobs(body []byte, now time.Time) (jobs []newJob, batch bool, e *Error) {
	top, objects, isBatch, e := splitJobsBody(body)
	if e != nil {
		return nil, isBatch, e
	}
	if !isBatch {
		j, e := decodeJob(top, "", now)
		if e != nil {
			return nil, false, e
		}
		return []newJob{j}, false, nil
	}
	switch {
	case len(objects) == 0:
		return nil, true, badRequest(workflow.CodeRequired, "jobs", "jobs is empty: send 1 to %d jobs", MaxJobsPerRequest)
	case len(objects) > MaxJobsPerRequest:
		return nil, true, badRequest(workflow.CodeOutOfRange, "jobs", "jobs has %d entries; the limit is %d per request", len(objects), MaxJobsPerRequest)
	}
	jobs = make([]newJob, len(objects))
	for i, m := range objects {
		if jobs[i], e = decodeJob(m, "jobs["+strconv.Itoa(i)+"].", now); e != nil {
			return nil, true, e
		}
	}
	return jobs, true, nil
}

// splitJobsBody parses the body into its members (top) and, when it has "jobs", the members
// of each job. A good body, the usual case, is parsed in one pass (quickBatch); any other is
// taken apart step by step, to name what is wrong with it.
func splitJobsBody(body []byte) (top map[string]json.RawMessage, objects []map[string]json.RawMessage, isBatch bool, e *Error) {
	if top, objects, ok := quickBatch(body); ok {
		return top, objects, true, nil
	}
	return carefulSplit(body)
}

// carefulSplit is splitJobsBody for any body: each step checks one thing and names it.
func carefulSplit(body []byte) (top map[string]json.RawMessage, objects []map[string]json.RawMessage, isBatch bool, e *Error) {
	top, e = decodeObject(body, "", true)
	if e != nil {
		return nil, nil, false, e
	}
	rawList, isBatch := top["jobs"]
	if !isBatch {
		return top, nil, false, nil
	}
	if e := refuseUnknown(top, "", []string{"jobs"}); e != nil {
		return nil, nil, true, e
	}
	if kind := jsonKind(rawList); kind != "an array" {
		return nil, nil, true, badRequest(CodeInvalidType, "jobs", "jobs must be an array of job objects, not %s", kind)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(rawList, &list); err != nil {
		return nil, nil, true, badRequest(CodeMalformedJSON, "jobs", "could not decode jobs: %v", err)
	}
	objects = make([]map[string]json.RawMessage, len(list))
	for i, raw := range list {
		if objects[i], e = decodeObject(raw, "jobs["+strconv.Itoa(i)+"]", false); e != nil {
			return nil, nil, true, e
		}
	}
	return nil, objects, true, nil
}

// quickBatch parses a body that is exactly {"jobs":[{…},…]} (whitespace aside) in one pass
// over it, with the same result as carefulSplit; ok is false for any other body, good or bad.
func quickBatch(body []byte) (top map[string]json.RawMessage, objects []map[string]json.RawMessage, ok bool) {
	if !utf8.Valid(body) {
		return nil, nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	want := func(tok json.Token) bool {
		t, err := dec.Token()
		return err == nil && t == tok
	}
	if !want(json.Delim('{')) || !want("jobs") || dec.Decode(&objects) != nil || objects == nil || !want(json.Delim('}')) {
		return nil, nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, false // something after the object
	}
	isNull := func(m map[string]json.RawMessage) bool { return m == nil }
	return nil, objects, !slices.ContainsFunc(objects, isNull)
}

// decodeJob checks one job object; prefix is its path in the body ("" or "jobs[3].").
func decodeJob(m map[string]json.RawMessage, prefix string, now time.Time) (newJob, *Error) {
	var j newJob
	parent := strings.TrimSuffix(prefix, ".")
	if e := refuseUnknown(m, parent, jobFields); e != nil {
		return j, e
	}
	var e *Error
	if j.Type, e = jobString(m, "type", prefix, maxJobTypeBytes); e != nil {
		return j, e
	}
	if j.Type == "" {
		return j, badRequest(workflow.CodeRequired, prefix+"type", "%stype is required: the job type its handler is registered for", prefix)
	}
	if raw, ok := present(m, "payload"); ok {
		if j.Payload, e = checkPayload(raw, prefix+"payload"); e != nil {
			return j, e
		}
	}
	opts, e := jobOptions(m, prefix, now)
	if e != nil {
		return j, e
	}
	j.Options = opts
	deps, e := dependsOn(m, prefix)
	if e != nil {
		return j, e
	}
	j.Options = append(j.Options, deps...)
	uk, hasKey := present(m, "unique_key")
	if _, hasTTL := present(m, "unique_ttl_ms"); hasKey || hasTTL {
		opt, e := uniqueOption(m, uk, prefix)
		if e != nil {
			return j, e
		}
		j.Options = append(j.Options, opt)
	}
	return j, nil
}

// jobOptions decodes queue, id, rate_key, max_retries, priority, timeout_ms, result_ttl_ms,
// delay_ms, run_at and deadline.
func jobOptions(m map[string]json.RawMessage, prefix string, now time.Time) ([]queue.Option, *Error) {
	names, e := nameOptions(m, prefix)
	if e != nil {
		return nil, e
	}
	run, e := runOptions(m, prefix)
	if e != nil {
		return nil, e
	}
	times, e := timeOptions(m, prefix, now)
	if e != nil {
		return nil, e
	}
	return slices.Concat(names, run, times), nil
}

// nameOptions decodes queue, id and rate_key.
func nameOptions(m map[string]json.RawMessage, prefix string) ([]queue.Option, *Error) {
	var opts []queue.Option
	for _, key := range []string{"queue", "id", "rate_key"} {
		s, e := jobString(m, key, prefix, 200)
		if e != nil {
			return nil, e
		}
		if _, ok := present(m, key); !ok {
			continue
		}
		if e := checkName(s, key, prefix); e != nil {
			return nil, e
		}
		switch key {
		case "queue":
			opts = append(opts, queue.OnQueue(s))
		case "id":
			opts = append(opts, queue.WithID(s))
		default:
			opts = append(opts, queue.RateKey(s))
		}
	}
	return opts, nil
}

// runOptions decodes max_retries, timeout_ms, result_ttl_ms and priority.
func runOptions(m map[string]json.RawMessage, prefix string) ([]queue.Option, *Error) {
	var opts []queue.Option
	if n, ok, e := wholeNumber(m, "max_retries", prefix, maxJobRetries); e != nil {
		return nil, e
	} else if ok {
		opts = append(opts, queue.MaxRetries(int(n)))
	}
	for _, key := range []string{"timeout_ms", "result_ttl_ms"} {
		d, ok, e := millis(m, key, prefix)
		if e != nil {
			return nil, e
		}
		if !ok {
			continue
		}
		if key == "timeout_ms" {
			opts = append(opts, queue.Timeout(d))
		} else if d > 0 {
			opts = append(opts, queue.ResultTTL(d))
		}
	}
	if p, ok, e := priority(m, prefix); e != nil {
		return nil, e
	} else if ok {
		opts = append(opts, queue.Priority(p))
	}
	return opts, nil
}

// timeOptions decodes delay_ms or run_at, and deadline; now anchors them.
func timeOptions(m map[string]json.RawMessage, prefix string, now time.Time) ([]queue.Option, *Error) {
	var opts []queue.Option
	at, e := runAt(m, prefix, now)
	if e != nil {
		return nil, e
	}
	if !at.IsZero() {
		opts = append(opts, queue.RunAt(at))
	}
	dl, e := deadline(m, prefix, now, at)
	if e != nil {
		return nil, e
	}
	if !dl.IsZero() {
		opts = append(opts, queue.Deadline(dl))
	}
	return opts, nil
}

// dependsOn decodes depends_on (1 to maxParents job IDs) and run_on_parent_failure (a
// boolean, only with depends_on).
func dependsOn(m map[string]json.RawMessage, prefix string) ([]queue.Option, *Error) {
	raw, hasDeps := present(m, "depends_on")
	anyway, hasAnyway := present(m, "run_on_parent_failure")
	var opts []queue.Option
	if hasDeps {
		field := prefix + "depends_on"
		if kind := jsonKind(raw); kind != "an array" {
			return nil, badRequest(CodeInvalidType, field, "%s must be an array of job IDs, not %s", field, kind)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, badRequest(CodeMalformedJSON, field, "could not decode %s: %v", field, err)
		}
		if len(items) == 0 || len(items) > maxParents {
			return nil, badRequest(workflow.CodeOutOfRange, field, "%s has %d IDs: give 1 to %d (leave it out for none)", field, len(items), maxParents)
		}
		ids := make([]string, len(items))
		for i, item := range items {
			el := map[string]json.RawMessage{"id": item}
			id, e := jobString(el, "id", field+"["+strconv.Itoa(i)+"].", 200)
			if e == nil {
				e = checkName(id, "id", field+"["+strconv.Itoa(i)+"].")
			}
			if e != nil {
				e.Field = field + "[" + strconv.Itoa(i) + "]"
				return nil, e
			}
			ids[i] = id
		}
		opts = append(opts, queue.DependsOn(ids...))
	}
	if hasAnyway {
		field := prefix + "run_on_parent_failure"
		if kind := jsonKind(anyway); kind != "a boolean" {
			return nil, badRequest(CodeInvalidType, field, "%s must be a boolean, not %s", field, kind)
		}
		if string(bytes.TrimSpace(anyway)) == "true" {
			if !hasDeps {
				return nil, badRequest(workflow.CodeInvalid, field, "%s needs %sdepends_on: a job without parents has none to fail", field, prefix)
			}
			opts = append(opts, queue.RunOnParentFailure())
		}
	}
	return opts, nil
}

// priority returns m["priority"], a whole number from queue.MinPriority to MaxPriority; ok
// is false when absent or null.
func priority(m map[string]json.RawMessage, prefix string) (p int, ok bool, e *Error) {
	raw, ok := present(m, "priority")
	if !ok {
		return 0, false, nil
	}
	field := prefix + "priority"
	if kind := jsonKind(raw); kind != "a number" {
		return 0, false, badRequest(CodeInvalidType, field, "%s must be a number, not %s", field, kind)
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	if err != nil || f != math.Trunc(f) || f < queue.MinPriority || f > queue.MaxPriority {
		return 0, false, badRequest(workflow.CodeOutOfRange, field, "%s must be a whole number from %d to %d (higher runs first; default %d)",
			field, queue.MinPriority, queue.MaxPriority, queue.DefaultPriority)
	}
	return int(f), true, nil
}

// deadline returns m["deadline"], an RFC 3339 time after now and after the run-at at (zero
// for now), at most a year ahead; zero when absent.
func deadline(m map[string]json.RawMessage, prefix string, now, at time.Time) (time.Time, *Error) {
	s, e := jobString(m, "deadline", prefix, 64)
	if e != nil {
		return time.Time{}, e
	}
	if _, ok := present(m, "deadline"); !ok {
		return time.Time{}, nil
	}
	field := prefix + "deadline"
	dl, err := time.Parse(time.RFC3339Nano, s)
	switch {
	case err != nil:
		return time.Time{}, badRequest(workflow.CodeInvalid, field, "%s %q is not an RFC 3339 time like 2026-12-01T09:00:00Z", field, httpx.Clip(s))
	case !dl.After(now):
		return time.Time{}, badRequest(workflow.CodeOutOfRange, field, "%s is not in the future", field)
	case !at.IsZero() && at.After(dl):
		return time.Time{}, badRequest(workflow.CodeOutOfRange, field, "%s is before the job's run-at: it could never run", field)
	case dl.Sub(now) > maxJobDuration:
		return time.Time{}, badRequest(workflow.CodeOutOfRange, field, "%s is more than a year ahead", field)
	}
	return dl, nil
}

// runAt returns when the job is to run from delay_ms or run_at (at most one of them); zero
// for now.
func runAt(m map[string]json.RawMessage, prefix string, now time.Time) (time.Time, *Error) {
	delay, hasDelay, e := millis(m, "delay_ms", prefix)
	if e != nil {
		return time.Time{}, e
	}
	s, e := jobString(m, "run_at", prefix, 64)
	if e != nil {
		return time.Time{}, e
	}
	_, hasAt := present(m, "run_at")
	switch {
	case hasDelay && hasAt:
		return time.Time{}, badRequest(workflow.CodeInvalid, prefix+"run_at", "give %sdelay_ms or %srun_at, not both", prefix, prefix)
	case hasDelay:
		if delay == 0 {
			return time.Time{}, nil
		}
		return now.Add(delay), nil
	case !hasAt:
		return time.Time{}, nil
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badRequest(workflow.CodeInvalid, prefix+"run_at", "%srun_at %q is not an RFC 3339 time like 2026-12-01T09:00:00Z", prefix, httpx.Clip(s))
	}
	if at.Sub(now) > maxJobDuration {
		return time.Time{}, badRequest(workflow.CodeOutOfRange, prefix+"run_at", "%srun_at is more than a year ahead", prefix)
	}
	return at, nil
}

// uniqueOption decodes unique_key and unique_ttl_ms: the TTL is required; without a key the
// job's type and payload are the key.
func uniqueOption(m map[string]json.RawMessage, rawKey json.RawMessage, prefix string) (queue.Option, *Error) {
	key, e := jobString(m, "unique_key", prefix, maxUniqueKeyBytes)
	if e != nil {
		return nil, e
	}
	if rawKey != nil && key == "" {
		return nil, badRequest(workflow.CodeInvalid, prefix+"unique_key", "%sunique_key is empty: leave it out to make the type and payload the key", prefix)
	}
	ttl, ok, e := millis(m, "unique_ttl_ms", prefix)
	if e != nil {
		return nil, e
	}
	if !ok || ttl <= 0 {
		return nil, badRequest(workflow.CodeRequired, prefix+"unique_ttl_ms", "%sunique_ttl_ms is required with a unique key: how long (in ms, above 0) the key refuses other jobs", prefix)
	}
	return queue.Unique(key, ttl), nil
}

// jobString returns m[key] as a string ("" when absent or null) of at most max bytes,
// without control characters.
func jobString(m map[string]json.RawMessage, key, prefix string, max int) (string, *Error) {
	raw, ok := present(m, key)
	if !ok {
		return "", nil
	}
	field := prefix + key
	if kind := jsonKind(raw); kind != "a string" {
		return "", badRequest(CodeInvalidType, field, "%s must be a string, not %s", field, kind)
	}
	s, err := jsonString(raw)
	if err != nil {
		return "", badRequest(CodeInvalidType, field, "%s is not a valid string", field)
	}
	if len(s) > max {
		return "", badRequest(workflow.CodeOutOfRange, field, "%s is %d bytes long; the limit is %d", field, len(s), max)
	}
	if e := checkText(s, field); e != nil {
		return "", e
	}
	return s, nil
}

// jsonString decodes raw, a JSON string from a valid document; one without escapes and in
// UTF-8 (the usual case) is its bytes between the quotes.
func jsonString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// checkText refuses a string with a control character (NUL included) or a lone surrogate
// (which decodes to U+FFFD).
func checkText(s, field string) *Error {
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return badRequest(workflow.CodeInvalid, field, "%s holds a control character or invalid UTF-8", field)
		}
	}
	return nil
}

// checkName checks a queue name or job id as the queue library wants them.
func checkName(s, key, prefix string) *Error {
	field := prefix + key
	max := 200 // of an id, and queue.MaxRateKeySize of a rate key
	if key == "queue" {
		max = 100
	}
	if s == "" || len(s) > max || strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == ':')
	}) {
		return badRequest(workflow.CodeInvalid, field, "%s %q: use 1 to %d letters, digits, '.', '_', '-' or ':'", field, httpx.Clip(s), max)
	}
	return nil
}

// wholeNumber returns m[key] as a whole number from 0 to max; ok is false when absent or null.
func wholeNumber(m map[string]json.RawMessage, key, prefix string, max int64) (n int64, ok bool, e *Error) {
	raw, ok := present(m, key)
	if !ok {
		return 0, false, nil
	}
	field := prefix + key
	if kind := jsonKind(raw); kind != "a number" {
		return 0, false, badRequest(CodeInvalidType, field, "%s must be a number, not %s", field, kind)
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	if err != nil || math.IsInf(f, 0) || f != math.Trunc(f) || f < 0 || f > float64(max) {
		return 0, false, badRequest(workflow.CodeOutOfRange, field, "%s must be a whole number from 0 to %d", field, max)
	}
	return int64(f), true, nil
}

// millis returns m[key], a whole number of milliseconds from 0 to a year, as a duration.
func millis(m map[string]json.RawMessage, key, prefix string) (time.Duration, bool, *Error) {
	n, ok, e := wholeNumber(m, key, prefix, maxJobDuration.Milliseconds())
	return time.Duration(n) * time.Millisecond, ok, e
}

// checkPayload returns a job's payload, compacted, after checking its size and that none of
// its strings (keys included) holds an escaped NUL or an unpaired UTF-16 surrogate: handlers
// in other languages would choke on them (raw invalid UTF-8 was refused with the body).
func checkPayload(raw json.RawMessage, field string) (json.RawMessage, *Error) {
	if len(raw) > queue.MaxPayloadBytes {
		return nil, badRequest(workflow.CodeOutOfRange, field, "%s is %d bytes; the limit is %d", field, len(raw), queue.MaxPayloadBytes)
	}
	if why := checkJSONText(raw); why != "" {
		return nil, badRequest(workflow.CodeInvalid, field, "%s %s", field, why)
	}
	if bytes.ContainsAny(raw, " \t\r\n") {
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, badRequest(CodeMalformedJSON, field, "%s is not valid JSON", field)
		}
		return buf.Bytes(), nil
	}
	return raw, nil
}

// cleanEscapes reports whether the valid JSON raw is free of \u0000 and unpaired surrogate
// escapes. In valid JSON a backslash only starts an escape inside a string.
func cleanEscapes(raw []byte) bool {
	for i := bytes.IndexByte(raw, '\\'); i >= 0 && i+1 < len(raw); {
		if raw[i+1] != 'u' {
			i = next(raw, i+2)
			continue
		}
		r := hex4(raw, i+2)
		switch {
		case r == 0 || r >= 0xDC00 && r <= 0xDFFF:
			return false
		case r >= 0xD800 && r <= 0xDBFF:
			if i+11 >= len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' {
				return false
			}
			if lo := hex4(raw, i+8); lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i = next(raw, i+12)
		default:
			i = next(raw, i+6)
		}
	}
	return true
}

// next returns the index of the next backslash at or after from, or -1.
func next(raw []byte, from int) int {
	if from >= len(raw) {
		return -1
	}
	if j := bytes.IndexByte(raw[from:], '\\'); j >= 0 {
		return from + j
	}
	return -1
}

// hex4 decodes the four hex digits at raw[i:] (-1 when they are not there).
func hex4(raw []byte, i int) int {
	if i+4 > len(raw) {
		return -1
	}
	n, err := strconv.ParseUint(string(raw[i:i+4]), 16, 32)
	if err != nil {
		return -1
	}
	return int(n)
}
