package workflow_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"mime"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/clock"
	"github.com/codex-dominion/dominion/internal/notify"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/sqlitebroker"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// waitFor is how long a test waits for something that takes milliseconds.
const waitFor = 20 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testLogger logs to the test's output (shown when it fails) at warn level and above.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// offsetClock is the wall clock moved by an offset a test sets: the store's and the engine's
// clock (its timers are the wall clock's).
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time                       { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) Set(offset time.Duration)             { c.offset.Store(int64(offset)) }
func (c *offsetClock) NewTimer(d time.Duration) clock.Timer { return clock.Real().NewTimer(d) }

// env is a real store (SQLite file), a real embedded queue and, once started, a real worker.
type env struct {
	t      *testing.T
	dir    string
	clock  *offsetClock
	store  store.Store
	broker *sqlitebroker.Broker
	client *queue.Client
	engine *workflow.Engine
	cfg    workflow.Config
}

type envOption func(*workflow.Config)

func withTypes(types ...workflow.Type) envOption {
	return func(c *workflow.Config) {
		r := workflow.NewRegistry()
		for _, t := range types {
			if err := r.Add(t); err != nil {
				panic(err)
			}
		}
		c.Types = r
	}
}

func withConfig(f func(*workflow.Config)) envOption { return f }

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvOn(t, "", opts...)
}

// newEnvOn is newEnv with the store storeDSN names ("": a SQLite file of the env's own).
func newEnvOn(t *testing.T, storeDSN string, opts ...envOption) *env {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	clk := &offsetClock{}
	if storeDSN == "" {
		storeDSN = filepath.Join(dir, "dominion.db")
	}
	st, err := store.Open(ctx, storeDSN, store.WithClock(clk.Now))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	b := openBroker(t, filepath.Join(dir, "queue.db"))
	e := &env{t: t, dir: dir, clock: clk, store: st, broker: b, client: queue.NewClient(b)}
	cfg := workflow.Config{Store: st, Client: e.client, Logger: testLogger(t), MaxRetries: -1, Clock: clk}
	for _, o := range opts {
		o(&cfg)
	}
	e.cfg = cfg
	e.engine = workflow.NewEngine(cfg)
	return e
}

func openBroker(t *testing.T, path string) *sqlitebroker.Broker {
	t.Helper()
	b, err := sqlitebroker.Open(t.Context(), path, sqlitebroker.Options{Logger: quiet})
	if err != nil {
		t.Fatalf("open broker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// engineWith returns another engine with the env's configuration (its store, its types),
// changed by f.
func (e *env) engineWith(f func(*workflow.Config)) *workflow.Engine {
	cfg := e.cfg
	f(&cfg)
	return workflow.NewEngine(cfg)
}

// startWorker runs a worker serving the workflows queue (and "default") until the test ends
// or stop is called (a graceful shutdown: stop returns when the worker has).
func (e *env) startWorker(eng *workflow.Engine) (stop func()) {
	e.t.Helper()
	return e.startWorkerOf(eng, 4)
}

// startWorkerOf is startWorker with concurrency jobs at a time.
func (e *env) startWorkerOf(eng *workflow.Engine, concurrency int) (stop func()) {
	e.t.Helper()
	if eng == nil {
		eng = e.engine
	}
	w := queue.NewWorker(e.broker, queue.WorkerConfig{
		Queues:            []queue.QueueWeight{{Name: workflow.DefaultQueue, Weight: 2}, {Name: queue.DefaultQueue, Weight: 1}},
		Concurrency:       concurrency,
		Lease:             5 * time.Second,
		HeartbeatInterval: 20 * time.Millisecond,
		FetchWait:         time.Second,
		ShutdownTimeout:   5 * time.Second,
		Backoff:           func(int) time.Duration { return 5 * time.Millisecond },
		Logger:            testLogger(e.t),
	})
	eng.Register(w)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(ctx); err != nil {
			e.t.Errorf("worker: %v", err)
		}
	}()
	stop = func() { cancel(); wg.Wait() }
	e.t.Cleanup(stop)
	return stop
}

// seedRequest is the seed's example request.
func seedRequest(typ string) workflow.Request {
	return workflow.Request{
		AgentID: "agent_jermaine_super_action", Mode: workflow.ModeExecute, Type: typ,
		Inputs: workflow.CalculatorInputs{TasksPerWeek: 20, TimePerTaskMinutes: 5, HourlyWage: 25, AutomationPercent: 80},
	}
}

func (e *env) submit(typ string) workflow.Accepted {
	e.t.Helper()
	acc, err := e.engine.Submit(e.t.Context(), seedRequest(typ))
	if err != nil {
		e.t.Fatalf("Submit: %v", err)
	}
	return acc
}

// waitStatus polls the store until workflow id has status want, and returns it.
func (e *env) waitStatus(id string, want store.Status) store.Workflow {
	e.t.Helper()
	var w store.Workflow
	ok := poll(e.t, func() bool {
		var err error
		w, err = e.store.GetWorkflow(e.t.Context(), id)
		if err != nil {
			e.t.Fatalf("GetWorkflow: %v", err)
		}
		return w.Status == want
	})
	if !ok {
		e.t.Fatalf("workflow %s: status %s (error %q) after %s, want %s", id, w.Status, w.Error, waitFor, want)
	}
	return w
}

// waitJob polls the queue until job id is in state want, and returns it.
func (e *env) waitJob(id string, want queue.State) *queue.Job {
	e.t.Helper()
	var job *queue.Job
	ok := poll(e.t, func() bool {
		var err error
		job, err = e.client.Get(e.t.Context(), id)
		if errors.Is(err, queue.ErrJobNotFound) {
			return false
		}
		if err != nil {
			e.t.Fatalf("get job: %v", err)
		}
		return job.State == want
	})
	if !ok {
		st := queue.State("missing")
		if job != nil {
			st = job.State
		}
		e.t.Fatalf("job %s: state %s after %s, want %s", id, st, waitFor, want)
	}
	return job
}

// poll calls cond until it is true or waitFor has passed.
func poll(t *testing.T, cond func() bool) bool {
	return testenv.Poll(t.Context(), waitFor, cond)
}

func delayType(name string, d time.Duration) workflow.Type {
	return workflow.Type{Name: name, Steps: []workflow.StepSpec{{Name: "work", Kind: workflow.KindDelay, Duration: d}}}
}

type mimeDecoder = mime.WordDecoder

func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// contextWithCancel returns a context canceled by stop or at the end of the test.
func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx, cancel
}

type notifyChannel = notify.Channel
