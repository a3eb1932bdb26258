package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the name under which the sentinels of StartSentinel watch their master.
const SentinelMaster = "dominion"

// sentinelNotFound is the message of a test that cannot run because redis-sentinel is missing.
const sentinelNotFound = "redis-sentinel not found: install it (apt-get install redis-sentinel)"

// Sentinel is a replicated Redis watched by Redis Sentinel, for failover tests: two
// redis-servers (a master and its replica) and three redis-sentinel processes (quorum 2)
// that declare the master down after one second without an answer and promote the replica.
type Sentinel struct {
	// Servers are the master and the replica as started; after a failover the sentinels'
	// master is another one (Master says which).
	Servers  [2]*Redis
	addrs    []string // the sentinels'
	password string
}

// StartSentinel starts a master (with opts: WithPassword makes the replica and the sentinels
// use it too), its replica and three sentinels, on free ports with their files in
// t.TempDir(), and returns once the replica is in sync and every sentinel knows the replica
// and the two other sentinels (so that a failover can happen). Everything is killed when the
// test ends. It fails the test if redis-server or redis-sentinel is not installed.
func StartSentinel(t testing.TB, opts ...RedisOption) *Sentinel {
	t.Helper()
	bin, err := exec.LookPath("redis-sentinel")
	if err != nil {
		t.Fatal(sentinelNotFound)
	}
	var cfg redisConfig
	for _, opt := range opts {
		opt(&cfg)
	}
	s := &Sentinel{password: cfg.password}
	s.Servers[0] = StartRedis(t, opts...)
	replicaOf := func(c *redisConfig) { c.replicaOf = s.Servers[0].Addr() }
	s.Servers[1] = StartRedis(t, append(opts, replicaOf)...)
	for i := range 3 {
		if err := s.startSentinel(t, bin, i); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	Eventually(t, time.Minute, func() error { return s.ready(ctx) })
	return s
}

// startSentinel starts sentinel i on a free port, with its configuration file (which the
// sentinel rewrites) in its own directory, and kills it when the test ends.
func (s *Sentinel) startSentinel(t testing.TB, bin string, i int) error {
	dir := filepath.Join(t.TempDir(), "sentinel"+strconv.Itoa(i))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	conf := filepath.Join(dir, "sentinel.conf")
	p := &Process{
		Command:      func() *exec.Cmd { return exec.Command(bin, conf) },
		Log:          filepath.Join(dir, "sentinel.log"),
		StartTimeout: startTimeout,
	}
	// A free port can be taken before the sentinel binds it: try a few.
	var lastErr error
	for range 5 {
		port, err := FreePort()
		if err != nil {
			return err
		}
		if err := os.WriteFile(conf, []byte(s.sentinelConfig(dir, port)), 0o600); err != nil {
			return fmt.Errorf("testenv: write sentinel config: %w", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		p.Name = "redis-sentinel on port " + strconv.Itoa(port)
		p.Ready = func() error { return pingAddr(addr, "") }
		if lastErr = p.Start(); lastErr == nil {
			stopAtEnd(t, p)
			s.addrs = append(s.addrs, addr)
			return nil
		}
	}
	return lastErr
}

func (s *Sentinel) sentinelConfig(dir string, port int) string {
	master := s.Servers[0]
	lines := []string{
		"bind 127.0.0.1",
		"port " + strconv.Itoa(port),
		"dir " + dir,
		`logfile ""`,
		"daemonize no",
		"protected-mode no",
		fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", SentinelMaster, master.port),
		"sentinel down-after-milliseconds " + SentinelMaster + " 1000",
		"sentinel failover-timeout " + SentinelMaster + " 10000",
		"sentinel parallel-syncs " + SentinelMaster + " 1",
	}
	if s.password != "" {
		lines = append(lines, "sentinel auth-pass "+SentinelMaster+" "+strconv.Quote(s.password))
	}
	return strings.Join(lines, "\n") + "\n"
}

// ready reports why the set cannot fail over yet: the replica is not in sync, or a sentinel
// does not know the replica or the other sentinels.
func (s *Sentinel) ready(ctx context.Context) error {
	replica := s.client(s.Servers[1].Addr(), s.password)
	defer replica.Close()
	info, err := replica.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "master_link_status:up") {
		return errors.New("the replica is not in sync with the master yet")
	}
	for _, addr := range s.Addrs() {
		err := s.sentinel(addr, func(sc *redis.SentinelClient) error {
			replicas, err := sc.Replicas(ctx, SentinelMaster).Result()
			if err != nil || len(replicas) != 1 {
				return fmt.Errorf("sentinel %s knows %d replicas (%v)", addr, len(replicas), err)
			}
			others, err := sc.Sentinels(ctx, SentinelMaster).Result()
			if err != nil || len(others) != 2 {
				return fmt.Errorf("sentinel %s knows %d other sentinels (%v)", addr, len(others), err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Sentinel) client(addr, password string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: password, Protocol: 2, DialTimeout: time.Second,
		ReadTimeout: 2 * time.Second, MaxRetries: -1})
}

// sentinel runs fn on a client of the sentinel at addr.
func (s *Sentinel) sentinel(addr string, fn func(*redis.SentinelClient) error) error {
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr, Protocol: 2, DialTimeout: time.Second,
		ReadTimeout: 2 * time.Second, MaxRetries: -1})
	defer sc.Close()
	return fn(sc)
}

// Addrs returns the sentinels' host:port addresses.
func (s *Sentinel) Addrs() []string { return s.addrs }

// URL returns redis-sentinel://[:password@]127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/dominion.
func (s *Sentinel) URL() string {
	u := url.URL{Scheme: "redis-sentinel", Host: "hosts", Path: "/" + SentinelMaster}
	if s.password != "" {
		u.User = url.UserPassword("", s.password)
	}
	return strings.Replace(u.String(), "hosts", strings.Join(s.Addrs(), ","), 1)
}

// Master returns the server the sentinels name as the master now (asking each until one
// answers).
func (s *Sentinel) Master(ctx context.Context) (*Redis, error) {
	var lastErr error
	for _, addr := range s.Addrs() {
		var master []string
		lastErr = s.sentinel(addr, func(sc *redis.SentinelClient) (err error) {
			master, err = sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
			return err
		})
		if lastErr != nil {
			continue
		}
		for _, r := range s.Servers {
			if len(master) == 2 && net.JoinHostPort(master[0], master[1]) == r.Addr() {
				return r, nil
			}
		}
		return nil, fmt.Errorf("testenv: the sentinels name %v as the master, none of the servers", master)
	}
	return nil, fmt.Errorf("testenv: no sentinel answers: %w", lastErr)
}

// KillMaster kills the current master with SIGKILL, as a crash would, and returns it (Start
// brings it back; the sentinels then make it a replica of the new master).
func (s *Sentinel) KillMaster(t testing.TB) *Redis {
	t.Helper()
	m, err := s.Master(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m.Kill()
	return m
}

// Rejoin starts the killed server old again as a replica of master, as a supervisor that
// starts a crashed Redis with the current master in its configuration does (started as it
// was, it would come back as an empty master, and the sentinels would make it a replica some
// ten seconds later). It comes back empty (test servers keep nothing on disk), so it is never
// to be promoted (replica-priority 0): a second failover to it before its first sync ended
// would make it the master of an empty data set, and the others its replicas.
func (s *Sentinel) Rejoin(old, master *Redis) error {
	old.cfg.replicaOf = master.Addr()
	old.cfg.noPromote = true
	if err := old.writeConfig(); err != nil {
		return err
	}
	return old.Start()
}

// WaitFailover waits until every sentinel names another master than old, and returns it.
func (s *Sentinel) WaitFailover(t testing.TB, old *Redis, within time.Duration) *Redis {
	t.Helper()
	ctx := context.Background()
	var promoted *Redis
	Eventually(t, within, func() error {
		for _, addr := range s.Addrs() {
			err := s.sentinel(addr, func(sc *redis.SentinelClient) error {
				master, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
				if err == nil && len(master) == 2 && net.JoinHostPort(master[0], master[1]) == old.Addr() {
					err = fmt.Errorf("sentinel %s still names %s as the master", addr, old.Addr())
				}
				return err
			})
			if err != nil {
				return err
			}
		}
		var err error
		promoted, err = s.Master(ctx)
		return err
	})
	return promoted
}
