package redisbroker

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// A call whose reply is lost — the connection dropped after Redis ran it, or the reply came
// later than the read timeout — is sent again by go-redis, which cannot tell it from a call
// that never ran. So the scripts that change state give the same outcome when run twice with
// the same arguments: finish, heartbeat and requeue by what they check (the job's state,
// worker and attempt); enqueue and enqueuegraph by recognizing a job stored with the very
// same fields (its enqueue time is in nanoseconds); openbatch by the nanosecond of its call;
// fetch by a token per call, under which a call that leased jobs records them for as long as
// a copy of it may still come (resendWindow). Retry, cancel and delete of one job change
// nothing the second time, and answer with what the first run left.

// resendWindow is how long after a call is first sent its client may still send it again:
// go-redis tries a call up to MaxRetries more times (MaxRedirects on a cluster), each try
// bounded by its dial, write and read timeouts and preceded by a backoff. Zero when the client
// never sends a call again; fallback when a timeout is unbounded or the client is of another
// kind.
func resendWindow(client redis.UniversalClient, fallback time.Duration) time.Duration {
	var tries int
	var dial, write, read, backoff time.Duration
	switch c := client.(type) {
	case *redis.Client:
		o := c.Options()
		tries, dial, write, read, backoff = o.MaxRetries, o.DialTimeout, o.WriteTimeout, o.ReadTimeout, o.MaxRetryBackoff
	case *redis.ClusterClient:
		o := c.Options()
		tries, dial, write, read, backoff = o.MaxRedirects, o.DialTimeout, o.WriteTimeout, o.ReadTimeout, o.MaxRetryBackoff
	default:
		return fallback
	}
	if tries <= 0 {
		return 0
	}
	if dial <= 0 || write <= 0 || read <= 0 {
		return fallback
	}
	return time.Duration(tries) * (dial + write + read + max(backoff, 0))
}

// fetchToken returns a token no other fetch call uses.
func fetchToken() string {
	return strconv.FormatUint(rand.Uint64(), 36)
}
