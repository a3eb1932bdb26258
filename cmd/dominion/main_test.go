package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// binPath is the dominion binary built by TestMain, for the tests that need real processes.
var binPath string

// testVersion is the version TestMain stamps into binPath, as 'make build' does.
const testVersion = "v0.0.0-test"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dominion-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "dominion")
	if runtime.GOOS == "windows" {
		binPath += ".exe"
	}
	args := []string{"build", "-o", binPath, "-ldflags", "-X main.version=" + testVersion}
	if raceEnabled {
		args = append(args, "-race") // a data race in the worker process fails its test too
	}
	cmd := exec.Command(goTool(), append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) || fileExists(p+".exe") {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// result is what one in-process run of the command line gave.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// dominion runs the command line args in-process with cfg and returns what it did.
func dominion(t *testing.T, cfg config.Config, args ...string) result {
	t.Helper()
	var stdout, stderr testenv.LogBuffer
	code := run(t.Context(), args, &stdout, &stderr, cfg)
	return result{code, stdout.String(), stderr.String()}
}

// ok runs args and fails the test unless the exit code is 0; it returns stdout.
func ok(t *testing.T, cfg config.Config, args ...string) string {
	t.Helper()
	r := dominion(t, cfg, args...)
	if r.code != 0 {
		t.Fatalf("dominion %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// decodeJSON decodes stdout, which must hold exactly one JSON value, into v.
func decodeJSON(t *testing.T, stdout string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %q: %v", stdout, err)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value in %q", stdout)
	}
}

// testBroker is one configured broker for a test.
type testBroker struct {
	name  string
	cfg   config.Config
	redis *testenv.Redis // nil for the embedded broker
}

func sqliteBroker(t *testing.T) testBroker {
	return testBroker{name: "sqlite", cfg: testConfig(config.Config{DataDir: t.TempDir()})}
}

func redisBroker(t *testing.T, opts ...testenv.RedisOption) testBroker {
	r := testenv.StartRedis(t, opts...)
	return testBroker{name: "redis", cfg: testConfig(config.Config{RedisURL: r.URL(), DataDir: t.TempDir()}), redis: r}
}

func testConfig(c config.Config) config.Config {
	c.LogLevel = 0 // info
	c.Lease = config.DefaultLease
	return c
}

// eachBroker runs fn, in parallel, against the embedded broker and against a real Redis.
func eachBroker(t *testing.T, fn func(t *testing.T, tb testBroker)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, sqliteBroker(t))
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		fn(t, redisBroker(t))
	})
}

// client opens the broker of cfg directly, for the test's own checks.
func client(t *testing.T, cfg config.Config) *queue.Client {
	t.Helper()
	a := &app{cfg: cfg, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, log: config.NewLogger(testLogWriter{t}, 0)}
	b, err := a.openBroker(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return queue.NewClient(b)
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// eventually polls cond until it holds, failing the test with msg() after within.
func eventually(t *testing.T, within time.Duration, cond func() bool, msg func() string) {
	t.Helper()
	testenv.Until(t, within, "waiting", cond, msg)
}

// stats returns the statistics of queue name (zero when it does not exist). Errors (the
// broker is down on purpose) give zero statistics and ok false.
func stats(ctx context.Context, c *queue.Client, name string) (queue.QueueStats, bool) {
	qs, err := c.Queues(ctx)
	if err != nil {
		return queue.QueueStats{}, false
	}
	for _, q := range qs {
		if q.Name == name {
			return q, true
		}
	}
	return queue.QueueStats{Name: name}, true
}

// inProcessWorker runs `dominion worker args…` in-process until the returned stop is called;
// stop fails the test unless the worker exits 0.
func inProcessWorker(t *testing.T, cfg config.Config, args ...string) (stop func() result) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	var stdout, stderr testenv.LogBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"worker"}, args...), &stdout, &stderr, cfg) }()
	var once sync.Once
	var res result
	stop = func() result {
		once.Do(func() {
			cancel()
			select {
			case code := <-done:
				res = result{code, stdout.String(), stderr.String()}
			case <-time.After(30 * time.Second):
				t.Errorf("worker did not stop within 30 s; stderr:\n%s", stderr.String())
				return
			}
			if res.code != 0 {
				t.Errorf("worker: %s", res)
			}
		})
		return res
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestTuneGC checks that dominion tunes the collector unless GOGC is set, whose value then
// means what Go says it does. (internal/gctune tests the tuning.)
func TestTuneGC(t *testing.T) {
	env := func(gogc string) config.Config {
		cfg, err := config.Load(func(k string) string {
			if k == config.EnvGOGC {
				return gogc
			}
			return ""
		})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	if tuneGC(env("50")) != nil {
		t.Error("with GOGC=50 set, dominion tuned the collector")
	}
	tu := tuneGC(env(""))
	if tu == nil {
		t.Fatal("without GOGC, dominion did not tune the collector")
	}
	tu.Stop()
}
