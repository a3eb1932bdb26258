package queue

import (
	"encoding/json"
	"fmt"
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
	j.Timeout = durationMS(v.TimeoutMS, v.legacyJobDurations.Timeout)
	j.UniqueFor = durationMS(v.UniqueTTLMS, v.legacyJobDurations.UniqueFor)
	j.ResultTTL = durationMS(v.ResultTTLMS, v.legacyJobDurations.ResultTTL)
	return nil
}

// durationMS is ms milliseconds, or legacyNS nanoseconds when ms is 0.
func durationMS(ms int64, legacyNS *int64) time.Duration {
	if ms == 0 && legacyNS != nil {
		return time.Duration(*legacyNS)
	}
	return time.Duration(ms) * time.Millisecond
}
