package sqlitebroker

import (
	"context"
	"sync"
)

// signal wakes every goroutine waiting on it: wait returns a channel that broadcast closes
// (and replaces). A waiter takes the channel before it looks for work, so a broadcast that
// happens between its look and its wait is never lost.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) init() { s.ch = make(chan struct{}) }

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *signal) broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}

// foreignWrites tells whether another connection (another Broker on the file, in this
// process or another) committed since the last call: PRAGMA data_version, read on the writer
// connection, changes only then, never for the writer's own commits, so that this process's
// writes (whose waiters are woken directly) cause no extra wake-ups. The first call reports
// a change.
type foreignWrites struct {
	last    int64
	failing bool
}

// check reads data_version on the writer connection, which must be idle.
func (f *foreignWrites) check(b *Broker) bool {
	var v int64
	if err := b.w.QueryRowContext(context.Background(), "PRAGMA data_version").Scan(&v); err != nil {
		if !f.failing {
			b.log.Warn("sqlitebroker: cannot check for writes of other processes", "file", b.path, "err", err)
		}
		f.failing = true
		return false
	}
	f.failing = false
	changed := v != f.last
	f.last = v
	return changed
}
