package redisbroker

import (
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"
)

// unsettledHeartbeats counts, per worker ID, the heartbeats this broker sent that may still
// reach Redis: those in flight, and those that failed without an answer from Redis (sent,
// perhaps, and held up in a Redis that hangs). RemoveWorker leaves a tombstone for a worker
// that has any (lua/worker.lua), so that such a heartbeat, arriving after the removal, does
// not list the worker again; a worker that stopped cleanly leaves no key behind.
type unsettledHeartbeats struct {
	mu sync.Mutex
	m  map[string]int
}

// sent records a heartbeat of worker id about to be sent.
func (u *unsettledHeartbeats) sent(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]int{}
	}
	u.m[id]++
}

// ended records the end of a heartbeat of worker id that failed with err (nil: it succeeded):
// it is settled when Redis answered, even with an error; otherwise it may still arrive.
func (u *unsettledHeartbeats) ended(id string, err error) {
	if _, answered := errors.AsType[redis.Error](err); err != nil && !answered {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m[id]--; u.m[id] <= 0 {
		delete(u.m, id)
	}
}

// forget reports whether worker id has a heartbeat that may still arrive, and forgets its
// heartbeats: the worker is removed.
func (u *unsettledHeartbeats) forget(id string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := u.m[id]
	delete(u.m, id)
	return n > 0
}
