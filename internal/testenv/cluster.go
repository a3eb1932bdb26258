package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of three masters, each with one replica, run for tests.
type Cluster struct {
	// Nodes are the six servers, the three masters first (as the cluster was created;
	// a failover swaps the roles).
	Nodes    [6]*Redis
	password string
}

// StartCluster starts six redis-servers with cluster-enabled on free ports, joins them into a
// cluster of three masters with one replica each (redis-cli --cluster create), waits until
// every node says the cluster is ok, and kills them when the test ends. A master that misses
// a second of pings is failed over to its replica (cluster-node-timeout 1000).
func StartCluster(t testing.TB, opts ...RedisOption) *Cluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatal("redis-cli not found: install it (apt-get install redis-tools)")
	}
	var cfg redisConfig
	for _, opt := range opts {
		opt(&cfg)
	}
	c := &Cluster{password: cfg.password}
	args := []string{"--cluster", "create"}
	for i := range c.Nodes {
		c.Nodes[i] = StartRedis(t, append(opts, func(c *redisConfig) { c.cluster = true })...)
		args = append(args, c.Nodes[i].Addr())
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	cmd := exec.Command(cli, args...)
	if c.password != "" {
		cmd.Env = append(cmd.Environ(), "REDISCLI_AUTH="+c.password)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	Eventually(t, time.Minute, func() error { return c.ready(context.Background()) })
	return c
}

// ready checks that every running node says cluster_state:ok and knows three masters, and
// that every replica is in sync with its master (a replica that never synced cannot be
// failed over to).
func (c *Cluster) ready(ctx context.Context) error {
	for _, n := range c.Nodes {
		if !n.proc.Running() {
			continue
		}
		if err := c.nodeReady(ctx, n); err != nil {
			return fmt.Errorf("node %s: %w", n.Addr(), err)
		}
	}
	return nil
}

func (c *Cluster) nodeReady(ctx context.Context, n *Redis) error {
	rc := redis.NewClient(&redis.Options{Addr: n.Addr(), Password: c.password})
	defer rc.Close()
	info, err := rc.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_size:3") {
		return fmt.Errorf("cluster not ok:\n%s", info)
	}
	repl, err := rc.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
		return fmt.Errorf("replica not in sync:\n%s", repl)
	}
	return nil
}

// URL returns the cluster's redis-cluster:// URL, naming every node.
func (c *Cluster) URL() string {
	hosts := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		hosts[i] = n.Addr()
	}
	auth := ""
	if c.password != "" {
		auth = ":" + url.PathEscape(c.password) + "@"
	}
	return "redis-cluster://" + auth + strings.Join(hosts, ",")
}

// MasterOf returns the node that is now the master of key's slot.
func (c *Cluster) MasterOf(ctx context.Context, key string) (*Redis, error) {
	var addrs []string
	for _, n := range c.Nodes {
		if n.proc.Running() {
			addrs = append(addrs, n.Addr())
		}
	}
	rc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Password: c.password})
	defer rc.Close()
	m, err := rc.MasterForKey(ctx, key)
	if err != nil {
		return nil, err
	}
	addr := m.Options().Addr
	for _, n := range c.Nodes {
		if n.Addr() == addr {
			return n, nil
		}
	}
	return nil, fmt.Errorf("the master of %q, %s, is not one of the cluster's nodes", key, addr)
}

// WaitFailover waits until the cluster is ok again without the killed node (its replica
// promoted) and returns the new master of key's slot.
func (c *Cluster) WaitFailover(t testing.TB, killed *Redis, key string, within time.Duration) *Redis {
	t.Helper()
	var m *Redis
	Eventually(t, within, func() error {
		if err := c.ready(context.Background()); err != nil {
			return err
		}
		var err error
		if m, err = c.MasterOf(context.Background(), key); err != nil {
			return err
		}
		if m == killed {
			return fmt.Errorf("the killed node %s is still the master of %q", killed.Addr(), key)
		}
		return nil
	})
	return m
}
