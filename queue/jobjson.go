package queue

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// jobDurations are the durations of a Job in its JSON form: whole milliseconds, in fields
// whose names say so (the names of the HTTP API's job view).
type jobDurations struct {
	TimeoutMS   int64 `json:"timeout_ms,omitempty"`
	UniqueTTLMS int64 `json:"unique_ttl_ms,omitempty"`
	ResultTTLMS int64 `json:"result_ttl_ms,omitempty"`
}

// legacyJobDurations are the fields that held the durations, in nanoseconds, in the JSON that
// earlier versions printed (`dominion jobs show --json`); UnmarshalJSON still reads them.
type legacyJobDurations struct {
	Timeout   *int64 `json:"timeout"`
	UniqueFor *int64 `json:"unique_for"`
	ResultTTL *int64 `json:"result_ttl"`
}

// MarshalJSON writes the job with its durations as whole milliseconds (timeout_ms,
// unique_ttl_ms, result_ttl_ms), left out when zero.
func (j Job) MarshalJSON() ([]byte, error) {
	type plain Job
	return json.Marshal(struct {
		plain
		jobDurations
	}{plain(j), jobDurations{
		TimeoutMS: j.Timeout.Milliseconds(), UniqueTTLMS: j.UniqueFor.Milliseconds(), ResultTTLMS: j.ResultTTL.Milliseconds(),
	}})
}

// UnmarshalJSON reads what MarshalJSON writes, and the nanosecond fields of earlier versions
// (timeout, unique_for, result_ttl) when the millisecond ones are absent.
func (j *Job) UnmarshalJSON(b []byte) error {
	type plain Job
	var v struct {
		*plain
		jobDurations
		legacyJobDurations
	}
	v.plain = (*plain)(j)
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("queue: decode job: %w", err)
	}
	var err error
	if j.Timeout, err = durationMS("timeout_ms", v.TimeoutMS, v.legacyJobDurations.Timeout); err != nil {
		return err
	}
	if j.UniqueFor, err = durationMS("unique_ttl_ms", v.UniqueTTLMS, v.legacyJobDurations.UniqueFor); err != nil {
		return err
	}
	j.ResultTTL, err = durationMS("result_ttl_ms", v.ResultTTLMS, v.legacyJobDurations.ResultTTL)
	return err
}

// maxDurationMS is the longest time.Duration in whole milliseconds (about 292 years).
const maxDurationMS = math.MaxInt64 / int64(time.Millisecond)

// durationMS is ms milliseconds, or legacyNS nanoseconds when ms is 0. An ms beyond a
// time.Duration is an error: it wrapped around (timeout_ms 10000000000000 read as a negative
// timeout).
func durationMS(field string, ms int64, legacyNS *int64) (time.Duration, error) {
	switch {
	case ms == 0 && legacyNS != nil:
		return time.Duration(*legacyNS), nil
	case ms > maxDurationMS || ms < -maxDurationMS:
		return 0, fmt.Errorf("queue: decode job: %s %d is beyond ±%d", field, ms, maxDurationMS)
	}
	return time.Duration(ms) * time.Millisecond, nil
}
