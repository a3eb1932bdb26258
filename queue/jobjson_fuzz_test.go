package queue_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// FuzzJobJSONDurations checks the durations of a job's JSON (`dominion jobs --json`), the
// only part UnmarshalJSON reads by hand: a job decoded from timeout_ms, unique_ttl_ms and
// result_ttl_ms (or the nanosecond fields of earlier versions when they are absent) has the
// durations they say, or the JSON is refused because one is beyond a time.Duration; and it
// encodes back to the same milliseconds.
func FuzzJobJSONDurations(f *testing.F) {
	f.Add(int64(30000), int64(60000), int64(86400000), int64(0))
	f.Add(int64(0), int64(0), int64(0), int64(30000000000))
	f.Add(int64(-1), int64(1), int64(0), int64(-5))
	// The longest whole-millisecond durations, and just beyond (the fuzzer's small steps do
	// not get there).
	f.Add(int64(9223372036854), int64(-9223372036854), int64(0), int64(0))
	f.Add(int64(9223372036855), int64(0), int64(-9223372036855), int64(0))
	f.Fuzz(func(t *testing.T, timeoutMS, uniqueMS, resultMS, legacyNS int64) {
		b := fmt.Appendf(nil, `{"id":"j","timeout_ms":%d,"unique_ttl_ms":%d,"result_ttl_ms":%d,"timeout":%d}`,
			timeoutMS, uniqueMS, resultMS, legacyNS)
		var j queue.Job
		if err := json.Unmarshal(b, &j); err != nil {
			if inRange(timeoutMS) && inRange(uniqueMS) && inRange(resultMS) {
				t.Fatalf("%s is refused: %v", b, err)
			}
			return
		}
		want := time.Duration(legacyNS) // timeout_ms absent (0): the nanoseconds
		if timeoutMS != 0 {
			want = time.Duration(timeoutMS) * time.Millisecond
		}
		if j.Timeout != want || j.UniqueFor.Milliseconds() != uniqueMS || j.ResultTTL.Milliseconds() != resultMS ||
			(timeoutMS != 0 && j.Timeout.Milliseconds() != timeoutMS) {
			t.Fatalf("%s decodes to timeout %v, unique for %v, result TTL %v", b, j.Timeout, j.UniqueFor, j.ResultTTL)
		}
		var back queue.Job
		out, err := json.Marshal(j)
		if err == nil {
			err = json.Unmarshal(out, &back)
		}
		if err != nil || back.Timeout.Milliseconds() != j.Timeout.Milliseconds() || back.UniqueFor != j.UniqueFor ||
			back.ResultTTL != j.ResultTTL {
			t.Fatalf("%s: encoded %s, which decodes to %+v, %v", b, out, back, err)
		}
	})
}

// inRange reports whether ms milliseconds fit in a time.Duration.
func inRange(ms int64) bool {
	return ms >= math.MinInt64/int64(time.Millisecond) && ms <= math.MaxInt64/int64(time.Millisecond)
}
