package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/queue"
)

// A call whose reply is lost — the connection dropped after Redis ran it, or the reply came
// later than the read timeout — is sent again by go-redis, which cannot tell it from a call
// that never ran. So the scripts that change state give the same outcome when run twice with
// the same arguments: finish, heartbeat and requeue by what they check (the job's state,
// worker and attempt); enqueue and enqueuegraph by recognizing a job stored with the very
// same fields (its enqueue time is in nanoseconds); openbatch by the nanosecond of its call;
// fetch by a token per call, under which a call that leased jobs records them for the lease.
// Retry, cancel and delete of one job carry a token too: the job keeps the token of the retry
// or cancel that moved it, or that flagged it active (field ct), a delete leaves
// p:{q}:deleted:<token> for a minute, and so does the cancel of a job whose result TTL is
// under a minute (p:{q}:canceled:<token>: the job may be expired before the call comes
// again), so that the call sent again answers done, as the first run did, instead of telling
// that the job is pending already, is canceled, or is gone.
//
// When every send of a fetch failed so (go-redis gave up), the jobs it may have leased are
// leased to a worker that never learned of them; the broker keeps the call's token
// (orphanFetches), and the worker's next fetch from the same queues sends it again and gets
// those jobs. A worker that stops first has no next fetch: Close gives them back
// (giveBackOrphans).

// callToken returns a token no other call uses.
func callToken() string {
	return strconv.FormatUint(rand.Uint64(), 36)
}

// orphanFetches holds the tokens of fetch calls that failed after they may have run, by
// worker and queues, until a fetch takes them up or their lease is over.
type orphanFetches struct {
	mu sync.Mutex
	m  map[string][]orphanFetch
}

type orphanFetch struct {
	token string
	max   int       // the call's max jobs: only a fetch of as many may send the token again
	until time.Time // the end of the lease of the jobs it may have leased
}

// fetchKey names the fetches of worker from queues, in any order (a worker draws its order
// of weighted queues anew for each fetch).
func fetchKey(worker string, queues []string) string {
	return worker + "\x00" + strings.Join(slices.Sorted(slices.Values(queues)), "\x00")
}

// take returns the token a fetch of up to max jobs by key should send: an orphan's, or a
// new one.
func (o *orphanFetches) take(key string, max int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	live := slices.DeleteFunc(o.m[key], func(f orphanFetch) bool { return now.After(f.until) })
	token := ""
	if i := slices.IndexFunc(live, func(f orphanFetch) bool { return f.max <= max }); i >= 0 {
		token = live[i].token
		live = slices.Delete(live, i, i+1)
	}
	if len(live) == 0 {
		delete(o.m, key)
	} else {
		o.m[key] = live
	}
	if token == "" {
		token = callToken()
	}
	return token
}

// failed keeps the token of a fetch by key that failed with err, when the call may have run:
// err is not a reply of Redis refusing it.
func (o *orphanFetches) failed(key, token string, max int, lease time.Duration, err error) {
	if _, refused := errors.AsType[redis.Error](err); refused {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string][]orphanFetch{}
	}
	o.m[key] = append(o.m[key], orphanFetch{token: token, max: max, until: time.Now().Add(lease)})
}

// drain returns the live orphans by key and forgets them all.
func (o *orphanFetches) drain() map[string][]orphanFetch {
	o.mu.Lock()
	defer o.mu.Unlock()
	m, now := o.m, time.Now()
	o.m = nil
	for key, fs := range m {
		if m[key] = slices.DeleteFunc(fs, func(f orphanFetch) bool { return now.After(f.until) }); len(m[key]) == 0 {
			delete(m, key)
		}
	}
	return m
}

// giveBackOrphans puts back, as Requeue does, the jobs that fetches whose every reply was
// lost leased and no later fetch took up: those their records list that are still active
// under the worker that asked, at the attempt they are at. It stops at the first failure
// (Redis is still unreachable): the jobs left go back when their leases run out.
func (b *Broker) giveBackOrphans(ctx context.Context) {
	for key, fs := range b.orphans.drain() {
		parts := strings.Split(key, "\x00")
		worker, queues := parts[0], parts[1:]
		for _, f := range fs {
			jobs, err := b.orphaned(ctx, worker, queues, f.token)
			if err == nil {
				err = b.Requeue(ctx, worker, jobs)
			}
			if err != nil {
				b.log.Warn("redisbroker: give back the jobs of a fetch whose reply was lost", "worker", worker, "queues", queues, "err", err)
				return
			}
		}
	}
}

// orphaned returns the jobs that the fetch of worker from queues under token recorded (fetch.lua)
// and that are still active under that worker, with their queue and attempt.
func (b *Broker) orphaned(ctx context.Context, worker string, queues []string, token string) ([]*queue.Job, error) {
	queueOf := make(map[string]string, len(queues))
	first := ""
	for _, q := range queues {
		base := b.keys.base(q)
		queueOf[base] = q
		if first == "" || base < first {
			first = base
		}
	}
	rec, err := b.rdb.LRange(ctx, first+"fetched:"+token, 0, -1).Result()
	if err != nil {
		return nil, err
	}
	var jobs []*queue.Job
	for i := 0; i+1 < len(rec); i += 2 {
		q, id := queueOf[rec[i]], rec[i+1]
		v, err := b.rdb.HMGet(ctx, b.keys.job(q, id), "s", "w", "a").Result()
		if err != nil {
			return nil, err
		}
		if v[0] != "active" || v[1] != worker {
			continue
		}
		attempt, _ := strconv.Atoi(fmt.Sprint(v[2]))
		jobs = append(jobs, &queue.Job{ID: id, Queue: q, Attempt: attempt})
	}
	return jobs, nil
}
