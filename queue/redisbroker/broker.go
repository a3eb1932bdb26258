package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/codex-dominion/dominion/internal/redact"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/queue"
)

// Options configures a Broker. The zero value of each field means its default.
type Options struct {
	// Prefix starts every key the broker uses (default "dominion"). Brokers with different
	// prefixes share nothing, even on the same Redis database. It must not contain braces,
	// which would change the keys' Redis Cluster hash tag.
	Prefix string
	// MaxDead caps the dead jobs kept per queue; beyond it the oldest are deleted
	// (default 100000).
	MaxDead int
	// DialTimeout, ReadTimeout and WriteTimeout bound network operations of a client made by
	// Open (default 3 s each). A call to a Redis that is down fails within about these.
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// Logger receives the broker's rare warnings (default slog.Default()).
	Logger *slog.Logger
	// Lazy makes Open skip its check that Redis answers, for processes that must start
	// while Redis is down (serve, worker, scheduler, dashboard): the broker's calls fail
	// until Redis is back, and then work, as they do after any outage.
	Lazy bool
	// WaitReplicas, when above zero, makes every Enqueue and Finish wait until that many
	// replicas have its writes (Redis WAIT, in the same round trip) before it returns: a
	// failover to one of them then loses no acknowledged job or outcome. When fewer confirm
	// within WaitTimeout (default 1 s) the call fails with ErrNotReplicated, and while the
	// master has fewer replicas every enqueue and outcome fails so. Open adds WaitTimeout to
	// ReadTimeout; a client given to New needs a ReadTimeout above it.
	WaitReplicas int
	WaitTimeout  time.Duration
}

// Defaults of Options.
const (
	DefaultPrefix  = "dominion"
	DefaultMaxDead = 100_000
	DefaultTimeout = 3 * time.Second
)

func (o *Options) setDefaults() {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.MaxDead <= 0 {
		o.MaxDead = DefaultMaxDead
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.WaitReplicas = max(o.WaitReplicas, 0)
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
}

// Broker is a queue.Broker on Redis. It is safe for concurrent use.
type Broker struct {
	rdb     redis.UniversalClient
	owns    bool   // the client was made by Open: Close closes it
	where   string // the server, for error messages (password redacted)
	keys    keys
	maxDead int
	log     *slog.Logger
	s       *scripts
	repl    replication
	// orphans are the tokens of fetches that failed after they may have run (resend.go).
	orphans orphanFetches
	// heartbeats are those that may still reach Redis, per worker (heartbeats.go).
	heartbeats unsettledHeartbeats
	// cluster is set on a Redis Cluster: calls that span queues (a fetch from several
	// queues, its wait, an event stream) are made one queue at a time, as each queue's keys
	// live in one hash slot of their own.
	cluster bool
	// blocker, when set (a plain or failover client), sends a fetch's wait and the fetch
	// after it in one round trip (wait.go): the client's copy whose read timeout allows for
	// a wait of maxPipelinedBlock.
	blocker *redis.Client
	// registered remembers when this broker last added each queue to the set of queues,
	// so that a single Enqueue is one script call, not a script and an SADD.
	registered sync.Map // queue name → time.Time
	// gather holds the small enqueues waiting to share a pipeline (gather.go).
	gather gatherer
	// background counts the work a Fetch left running when its caller gave up: giving back
	// what a canceled wait leased, or the wake-up token it took. Close waits for it.
	background sync.WaitGroup
}

var _ queue.Broker = (*Broker)(nil)

// Open connects to the Redis that rawURL names (one server: redis://[[user]:password@]host:port/db,
// rediss:// for TLS, unix://; or a master found through its sentinels:
// redis-sentinel://host1:26379,host2:26379/master-name; a cluster:
// redis-cluster://host1:6379,host2:6379; see url.go), checks that it answers (unless
// Options.Lazy), and returns a broker that owns the connection. Errors name the server with
// its passwords replaced by xxxxx.
func Open(ctx context.Context, rawURL string, opts Options) (*Broker, error) {
	opts.setDefaults()
	where := RedactURL(rawURL)
	red := redact.New([]string{rawURL})
	t, err := parseURL(rawURL)
	if err != nil {
		return nil, red.Errorf("redisbroker: parse URL %s: %w", malformedWhere(rawURL, where), err)
	}
	if t.cluster != nil && opts.WaitReplicas > 0 {
		return nil, fmt.Errorf("redisbroker: %s: %w", where, ErrClusterWait)
	}
	b := New(t.client(rawURL, opts), opts)
	b.owns, b.where = true, where
	if opts.Lazy {
		return b, nil
	}
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		_ = b.rdb.Close()
		if t.failover != nil && errors.Is(err, redis.Nil) { // go-redis calls them unreachable
			err = fmt.Errorf("no sentinel knows a master named %q: %w", t.failover.MasterName, err)
		}
		return nil, red.Errorf("redisbroker: connect to %s: %w", where, err)
	}
	return b, nil
}

// client returns the go-redis client of t with the timeouts of opts. Either kind fails fast
// when Redis is down: go-redis would otherwise redial 5 times, 100 ms apart, on each of its 4
// tries of a command (several seconds). It speaks RESP2 unless a redis:// URL asks for
// another protocol: the broker uses nothing of RESP3, whose push-notification checks cost
// go-redis a third more CPU per call.
func (t target) client(rawURL string, opts Options) redis.UniversalClient {
	if opts.WaitReplicas > 0 { // a round trip may include a WAIT
		opts.ReadTimeout += opts.WaitTimeout
	}
	if c := t.cluster; c != nil {
		c.DialTimeout, c.ReadTimeout, c.WriteTimeout = opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout
		c.ContextTimeoutEnabled, c.Protocol, c.DialerRetries = true, 2, 2
		c.ClusterStateReloadInterval = clusterReload
		return redis.NewClusterClient(c)
	}
	if f := t.failover; f != nil {
		f.DialTimeout, f.ReadTimeout, f.WriteTimeout = opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout
		f.ContextTimeoutEnabled, f.Protocol, f.DialerRetries, f.MaxRetries = true, 2, 2, 2
		return redis.NewFailoverClient(f)
	}
	o := t.single
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout
	o.ContextTimeoutEnabled, o.DialerRetries, o.MaxRetries = true, 2, 2
	if !strings.Contains(rawURL, "protocol=") {
		o.Protocol = 2
	}
	return redis.NewClient(o)
}

// clusterReload is how often a cluster client asks which node serves which slots, besides
// after every failed call.
const clusterReload = 5 * time.Second

// New returns a broker on a client the caller made and keeps: Close does not close it. The
// client is a plain one (redis.NewClient), a failover one (redis.NewFailoverClient, which
// follows the master that Redis Sentinel names) or a cluster one (redis.NewClusterClient,
// with which Options.WaitReplicas makes every enqueue and outcome fail: ErrClusterWait). Its
// ReadTimeout must exceed one second (or be -1): Fetch blocks up to a second per call to
// Redis while it waits for jobs on a cluster or for a due job (its other waits, up to five
// seconds, go through a copy of a plain or failover client with five seconds more).
func New(client redis.UniversalClient, opts Options) *Broker {
	opts.setDefaults()
	where := "redis"
	if c, ok := client.(*redis.Client); ok {
		where = c.Options().Addr // "FailoverClient" for a failover one
	}
	_, cluster := client.(*redis.ClusterClient)
	b := &Broker{
		rdb:     client,
		where:   where,
		keys:    keys{prefix: opts.Prefix},
		maxDead: opts.MaxDead,
		log:     opts.Logger,
		s:       newScripts(),
		repl:    replication{replicas: opts.WaitReplicas, timeout: opts.WaitTimeout},
		cluster: cluster,
	}
	if c, ok := client.(*redis.Client); ok {
		b.blocker = c
		if rt := c.Options().ReadTimeout; rt > 0 {
			b.blocker = c.WithTimeout(rt + maxPipelinedBlock)
		}
	}
	return b
}

// Ping checks that Redis answers.
func (b *Broker) Ping(ctx context.Context) error {
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return b.wrap(err, "ping")
	}
	return nil
}

// Close gives back what Fetch calls left leased to no one, then closes the connections of a
// broker made by Open (one made by New leaves its client open). It waits for the work that
// fetches whose callers gave up left running (giving back the jobs or wake-up tokens their
// waits took), and gives back the jobs that fetches whose every reply was lost leased
// (resend.go), each bounded by the client's timeouts. Call it once no call is in progress.
func (b *Broker) Close() error {
	b.background.Wait()
	b.giveBackOrphans(context.Background())
	if !b.owns {
		return nil
	}
	if err := b.rdb.Close(); err != nil {
		return b.wrap(err, "close")
	}
	return nil
}

// wrap adds what the broker was doing to err and, unless err is one of the queue package's
// errors about jobs, which server it was talking to.
func (b *Broker) wrap(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	for _, known := range []error{queue.ErrJobNotFound, queue.ErrInvalidState, queue.ErrQueueNotFound,
		queue.ErrDuplicateJob, queue.ErrDuplicateUnique} {
		if errors.Is(err, known) {
			return fmt.Errorf("redisbroker: %s: %w", what, err)
		}
	}
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		// A node may have died and its replica taken over: ask the cluster which node serves
		// which slots now, rather than at go-redis's next periodic reload.
		cc.ReloadState(context.Background())
	}
	return fmt.Errorf("redisbroker: %s (redis at %s): %w", what, b.where, err)
}

// RedactURL returns rawURL with its password, if any, replaced by xxxxx, so that it can be
// logged or shown. A URL it cannot parse loses its whole user-info part.
func RedactURL(rawURL string) string { return redact.URL(rawURL) }
