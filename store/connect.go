package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// errNotConnected is what a PostgreSQL store opened with Lazy answers until the database has
// answered once and its schema is migrated. IsUnavailable reports it.
var errNotConnected = errors.New("not connected: the database has not answered since start")

// Bounds of the delay between two attempts to reach a PostgreSQL database that is down.
const (
	minReconnectDelay = 100 * time.Millisecond
	maxReconnectDelay = 5 * time.Second
	connectTimeout    = 5 * time.Second
)

// bootKey marks the context of the first connection (connect): the only one the gate lets
// through before the schema is ready.
type bootKey struct{}

// gate is the connector of a PostgreSQL store's pool: until the store is ready (it has
// answered once and its migrations are applied), it opens no connection except connect's,
// so that no request runs on a schema not yet migrated and nothing is half-written.
type gate struct {
	driver.Connector
	ready *atomic.Bool
}

func (g gate) Connect(ctx context.Context) (driver.Conn, error) {
	if !g.ready.Load() && ctx.Value(bootKey{}) == nil {
		return nil, errNotConnected
	}
	return g.Connector.Connect(ctx)
}

// link is a PostgreSQL store's view of its database: whether the pool may connect (ready),
// whether an outage is being watched (down), and the goroutine that waits for the database
// with capped exponential backoff and jitter. It logs one line when the database goes away
// and one when it is back, not one per attempt.
type link struct {
	log     *slog.Logger
	lazy    bool // outages before the first connection are waited for too (Lazy)
	migrate bool // connect applies the migrations
	ready   atomic.Bool
	down    atomic.Bool
	since   time.Time // start of the current outage: written by the wentDown that set down

	life context.Context // canceled by Close: ends the wait
	stop context.CancelFunc
	wg   sync.WaitGroup
}

func newLink(o options) *link {
	l := &link{log: o.log, lazy: o.lazy, migrate: o.migrate}
	l.life, l.stop = context.WithCancel(context.Background())
	return l
}

// connect reaches the database once: it applies the migrations (or, without, pings) on a
// connection the gate lets through, then opens the gate.
func (s *sqlStore) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, bootKey{}, true), connectTimeout)
	defer cancel()
	if s.link.ready.Load() {
		return s.Ping(ctx)
	}
	var err error
	if s.link.migrate {
		_, err = s.Migrate(ctx)
	} else {
		err = s.Ping(ctx)
	}
	if err == nil {
		s.link.ready.Store(true)
	}
	return err
}

// wentDown records that err, an IsUnavailable error, came from the database: the first one
// of an outage is logged and starts the wait for the database's return. Before the first
// connection, only a Lazy store waits (Open fails otherwise).
func (s *sqlStore) wentDown(err error) {
	l := s.link
	if l == nil || !IsUnavailable(err) || (!l.lazy && !l.ready.Load()) || l.life.Err() != nil ||
		!l.down.CompareAndSwap(false, true) {
		return
	}
	l.since = time.Now()
	l.log.Warn("store unreachable: requests that need it answer 503 and workflow jobs wait, until it is back",
		"store", s.String(), "err", err)
	l.wg.Go(s.reconnect)
}

// reconnect tries connect until it succeeds or the store is closed, waiting a random delay in
// [d/2, d] between attempts, d doubling from minReconnectDelay up to maxReconnectDelay.
func (s *sqlStore) reconnect() {
	l := s.link
	d := minReconnectDelay
	for {
		t := time.NewTimer(d/2 + rand.N(d/2+1))
		select {
		case <-l.life.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if s.connect(l.life) == nil {
			l.log.Info("store reachable again", "store", s.String(), "after", time.Since(l.since).Round(time.Millisecond))
			l.down.Store(false)
			return
		}
		d = min(2*d, maxReconnectDelay)
	}
}

// close ends the wait and waits for its goroutine.
func (l *link) close() {
	l.stop()
	l.wg.Wait()
}
