package redisbroker

import (
	"fmt"
	"strings"
)

// keys builds the broker's Redis keys (the layout is described in doc.go).
type keys struct{ prefix string }

// base is the start of every key of queue q: "<prefix>:{<q>}:". The braces make q the hash
// tag, so that all of a queue's keys live in one Redis Cluster slot.
func (k keys) base(q string) string { return k.prefix + ":{" + q + "}:" }

func (k keys) job(q, id string) string { return k.base(q) + "job:" + id }
func (k keys) queues() string          { return k.prefix + ":queues" }
func (k keys) workers() string         { return k.prefix + ":workers" }
func (k keys) history() string         { return k.prefix + ":history" }
func (k keys) worker(id string) string { return k.prefix + ":worker:" + id }
func (k keys) replicated() string      { return k.prefix + ":replicated" }

// unblock is the list that the BLPOP of one fetch call (token) also waits on (wait.go).
func (k keys) unblock(token string) string { return k.prefix + ":unblock:" + token }

// bases returns the key base of each queue.
func (k keys) bases(queues []string) []string {
	out := make([]string, len(queues))
	for i, q := range queues {
		out[i] = k.base(q)
	}
	return out
}

// checkQueue rejects queue names that would break the key layout.
func checkQueue(q string) error {
	if q == "" {
		return fmt.Errorf("empty queue name")
	}
	if strings.ContainsAny(q, "{}") {
		return fmt.Errorf("queue name %q contains a brace", q)
	}
	return nil
}

// checkQueues checks a list of queue names for a fetch.
func checkQueues(qs []string) error {
	if len(qs) == 0 {
		return fmt.Errorf("no queue given")
	}
	for _, q := range qs {
		if err := checkQueue(q); err != nil {
			return err
		}
	}
	return nil
}
