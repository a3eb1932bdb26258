package redisbroker

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// server is the redis-server shared by the package's tests; each test uses its own prefix.
var server *testenv.Redis

// prefixes numbers the prefixes handed out to tests.
var prefixes atomic.Int64

func TestMain(m *testing.M) {
	r, err := testenv.NewRedis()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server = r
	code := m.Run()
	r.Close()
	os.Exit(code)
}

// testPrefix returns a key prefix no other test uses.
func testPrefix(t testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_", "{", "(", "}", ")").Replace(t.Name())
	return fmt.Sprintf("t%d-%s", prefixes.Add(1), name)
}

// newBroker opens a broker with its own prefix on the shared server, closed at cleanup.
func newBroker(t testing.TB, opts ...func(*Options)) *Broker {
	t.Helper()
	o := Options{Prefix: testPrefix(t)}
	for _, f := range opts {
		f(&o)
	}
	b, err := Open(context.Background(), server.URL(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// privateBroker starts a redis-server of the test's own (for faults that would disturb the
// other tests: stopping it, flushing its scripts) and opens a broker on it, closed at cleanup.
func privateBroker(t testing.TB, opts ...testenv.RedisOption) (*Broker, *testenv.Redis) {
	t.Helper()
	r := testenv.StartRedis(t, opts...)
	b, err := Open(context.Background(), r.URL(), Options{Prefix: testPrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, r
}

// newNamedBroker returns a broker on a client with its own name, so that waitBlocked can see
// when one of its calls is blocked in Redis.
func newNamedBroker(t testing.TB) (*Broker, string) {
	t.Helper()
	prefix := testPrefix(t)
	name := "c" + strings.NewReplacer("-", "", "_", "").Replace(prefix)
	c := redis.NewClient(&redis.Options{Addr: server.Addr(), ClientName: name, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return New(c, Options{Prefix: prefix}), name
}

// waitBlocked waits until a connection of the client named name is blocked in BLPOP.
func waitBlocked(t testing.TB, name string) {
	t.Helper()
	testenv.Until(t, 10*time.Second, "no BLPOP of client "+name, func() bool { return blockedCount(t, name) > 0 })
}

// blockedCount returns how many connections of the client named name are blocked in BLPOP.
func blockedCount(t testing.TB, name string) int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: server.Addr()})
	defer c.Close()
	list, err := c.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " name="+name+" ") && strings.Contains(line, " cmd=blpop") && strings.Contains(line, " flags=b ") {
			n++
		}
	}
	return n
}

// rawClient returns a plain client on the shared server, for looking at keys.
func rawClient(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: server.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newJob returns a pending job on queue q, as the Client would build it.
func newJob(q, id string) *queue.Job {
	if id == "" {
		id = queue.NewID()
	}
	return &queue.Job{
		ID: id, Queue: q, Type: "test", Payload: []byte(`{"n":1}`), State: queue.StatePending,
		MaxRetries: 3, ResultTTL: time.Hour, EnqueuedAt: time.Now(),
	}
}

// enqueue stores jobs and fails the test on any error.
func enqueue(t testing.TB, b *Broker, jobs ...*queue.Job) {
	t.Helper()
	errs, err := b.Enqueue(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("job %d (%s): %v", i, jobs[i].ID, err)
		}
	}
}

// fetch fetches up to max jobs of queues without waiting.
func fetch(t testing.TB, b *Broker, worker string, lease time.Duration, max int, queues ...string) []*queue.Job {
	t.Helper()
	jobs, err := b.Fetch(context.Background(), queue.FetchRequest{WorkerID: worker, Queues: queues, Max: max, Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// get returns the job, failing the test when it cannot.
func get(t testing.TB, b *Broker, id string) *queue.Job {
	t.Helper()
	j, err := b.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// stats returns the statistics of queue q.
func stats(t testing.TB, b *Broker, q string) queue.QueueStats {
	t.Helper()
	qs, err := b.Queues(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range qs {
		if s.Name == q {
			return s
		}
	}
	return queue.QueueStats{Name: q}
}

// completed is the outcome of a successful attempt of j.
func completed(j *queue.Job, result string) queue.Outcome {
	return queue.Outcome{JobID: j.ID, Queue: j.Queue, WorkerID: j.WorkerID, Attempt: j.Attempt,
		State: queue.StateCompleted, Result: []byte(result), FinishedAt: time.Now()}
}

// failed is the outcome of a failed attempt of j that goes to state st (retry at retryAt).
func failed(j *queue.Job, st queue.State, retryAt time.Time, msg string) queue.Outcome {
	now := time.Now()
	return queue.Outcome{JobID: j.ID, Queue: j.Queue, WorkerID: j.WorkerID, Attempt: j.Attempt, State: st,
		RetryAt: retryAt, FinishedAt: now, Error: &queue.AttemptError{Attempt: j.Attempt, Error: msg, At: now}}
}

func finish(t testing.TB, b *Broker, outs ...queue.Outcome) {
	t.Helper()
	if err := b.Finish(context.Background(), outs); err != nil {
		t.Fatal(err)
	}
}

func ids(jobs []*queue.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// scanAll returns the keys matching pattern, found with SCAN.
func scanAll(t testing.TB, c *redis.Client, pattern string) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(context.Background(), 0, pattern, 1000).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// heldBroker returns a broker whose connections go through a proxy that can hold Redis's
// replies (testenv.Proxy.HoldReplies), a broker with the same prefix straight to the server
// (around the proxy), and the proxy. Four connections of each of the first broker's pools are
// in use once before it returns (warm): go-redis sends its handshake (HELLO) with a
// connection's first command and waits for its reply, so a connection first used while replies
// are held would send nothing until they are released.
func heldBroker(t *testing.T) (b, direct *Broker, p *testenv.Proxy) {
	t.Helper()
	r := testenv.StartRedis(t)
	p = testenv.StartProxy(t, r.Addr())
	prefix := testPrefix(t)
	b, err := Open(context.Background(), "redis://"+p.Addr(), Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	warm(t, b.rdb.(*redis.Client), r.Addr(), 4)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	return b, New(rc, Options{Prefix: prefix}), p
}

// warm has n connections of each of rc's pools (go-redis keeps one for pipelines) in use at
// once, each blocked in a BLPOP until the server's own client (at addr) pushes to its list,
// and then back in their pool, their handshakes done.
func warm(t *testing.T, rc *redis.Client, addr string, n int) {
	t.Helper()
	ctx := context.Background()
	direct := redis.NewClient(&redis.Options{Addr: addr})
	defer direct.Close()
	errs := make(chan error, 2*n)
	for i := range n {
		go func() { errs <- rc.BLPop(ctx, 0, "warm:"+strconv.Itoa(i)).Err() }()
		go func() {
			_, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
				return p.BLPop(ctx, 0, "warm:"+strconv.Itoa(n+i)).Err()
			})
			errs <- err
		}()
	}
	testenv.Until(t, 10*time.Second, "the warming BLPOPs to block", func() bool { return blockedClients(t, addr) >= 2*n })
	for i := range 2 * n {
		direct.RPush(ctx, "warm:"+strconv.Itoa(i), "1")
	}
	for range 2 * n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// blockedClients is the number of clients blocked in a command on the server at addr.
func blockedClients(t testing.TB, addr string) int {
	v, _ := lookupInfo(t, addr, "clients", "blocked_clients")
	n, _ := strconv.Atoi(v)
	return n
}
