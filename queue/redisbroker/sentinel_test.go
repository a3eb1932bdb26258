package redisbroker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/internal/testenv"
)

// TestSentinelURL: a redis-sentinel:// URL reaches the master its sentinels name, with the
// password the URL gives, and no error shows that password; a failover client made by the
// caller works through New as well.
func TestSentinelURL(t *testing.T) {
	t.Parallel()
	const secret = "Sentinel-Secret-pw"
	s := testenv.StartSentinel(t, testenv.WithPassword(secret))
	ctx := context.Background()
	prefix := testPrefix(t)
	b, err := Open(ctx, s.URL(), Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	enqueue(t, b, newJob("q", "via-url"))

	fc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: testenv.SentinelMaster,
		SentinelAddrs: s.Addrs(), Password: secret})
	t.Cleanup(func() { _ = fc.Close() })
	other := New(fc, Options{Prefix: prefix})
	jobs := fetch(t, other, "w", time.Minute, 10, "q")
	if len(jobs) != 1 || jobs[0].ID != "via-url" {
		t.Fatalf("the failover client fetched %v, want the job enqueued through the URL", ids(jobs))
	}

	wrong := strings.Replace(s.URL(), ":"+secret+"@", ":wrong-"+secret+"@", 1)
	_, err = Open(ctx, wrong+"?sentinel_password="+secret, Options{})
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "redis-sentinel://:xxxxx@127.0.0.1:") {
		t.Fatalf("open with a wrong password: %v", err)
	}
	t.Logf("wrong password: %v", err)
	_, err = Open(ctx, strings.Replace(s.URL(), testenv.SentinelMaster, "no-such-master", 1), Options{})
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), `no sentinel knows a master named "no-such-master"`) {
		t.Fatalf("open with an unknown master name: %v", err)
	}
	t.Logf("unknown master: %v", err)
}
