// Package queuetest is the conformance suite of queue.Broker: every behaviour the queue
// library promises, exercised through queue.Client and queue.Worker against a real broker.
// Every broker runs it in full from its own tests:
//
//	func TestConformance(t *testing.T) {
//		queuetest.Run(t, func(t *testing.T) queue.Broker { return openFreshBroker(t) })
//	}
//
// newBroker must return a broker that shares no jobs with any other it returned, so that the
// tests run in parallel.
package queuetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// NewBroker returns a fresh, isolated broker for one test; it is closed by the test's cleanup.
type NewBroker func(t *testing.T) queue.Broker

// Run runs the whole suite against brokers made by newBroker.
func Run(t *testing.T, newBroker NewBroker) {
	for name, fn := range suite() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, newBroker)
		})
	}
}

// testSet is a set of the suite's tests by name.
type testSet map[string]func(*testing.T, NewBroker)

// suite returns every test of the suite by name. A name given twice panics: the second test
// would replace the first.
func suite() testSet {
	tests := testSet{}
	for _, group := range []testSet{
		lifecycleTests(),
		failureTests(),
		priorityTests(),
		deadlineTests(),
		controlTests(),
		recoveryTests(),
		inspectTests(),
		scheduleTests(),
		observeTests(),
		limitTests(),
		dependencyTests(),
	} {
		for name, fn := range group {
			if _, dup := tests[name]; dup {
				panic("queuetest: two tests named " + name)
			}
			tests[name] = fn
		}
	}
	return tests
}

// lifecycleTests returns the tests of enqueueing, fetching and running jobs.
func lifecycleTests() testSet {
	return testSet{
		"EnqueueAndGet":        testEnqueueAndGet,
		"EnqueueMany":          testEnqueueMany,
		"DuplicateID":          testDuplicateID,
		"UniqueKey":            testUniqueKey,
		"ProcessAndResult":     testProcessAndResult,
		"FetchBatches":         testFetchBatches,
		"Delayed":              testDelayed,
		"WakeUpWithoutPolling": testWakeUp,
	}
}

// failureTests returns the tests of failing jobs: retries, dead jobs, panics and timeouts.
func failureTests() testSet {
	return testSet{
		"RetryThenSucceed":         testRetryThenSucceed,
		"DeadAfterRetries":         testDeadAfterRetries,
		"NoRetryGoesDead":          testNoRetryGoesDead,
		"UnavailableKeepsAttempts": testUnavailableKeepsAttempts,
		"UndecodablePayload":       testUndecodablePayload,
		"PanicFailsJob":            testPanicFailsJob,
		"Timeout":                  testTimeout,
		"UnknownJob":               testUnknownJob,
	}
}

// priorityTests returns the tests of queue weights and job priorities.
func priorityTests() testSet {
	return testSet{
		"StrictPriority":   testStrictPriority,
		"WeightedPriority": testWeightedPriority,
		"PriorityOrder":    testPriorityOrder,
		"PriorityKept":     testPriorityKept,
	}
}

// deadlineTests returns the tests of job deadlines.
func deadlineTests() testSet {
	return testSet{
		"DeadlineNotStarted":   testDeadlineNotStarted,
		"DeadlineContext":      testDeadlineContext,
		"DeadlineNoRetryAfter": testDeadlineNoRetryAfter,
	}
}

// controlTests returns the tests of pausing queues and of canceling, retrying and deleting
// jobs.
func controlTests() testSet {
	return testSet{
		"Pause":                testPause,
		"PauseUnknownQueue":    testPauseUnknownQueue,
		"CancelPending":        testCancelPending,
		"CancelScheduled":      testCancelScheduled,
		"CancelRunning":        testCancelRunning,
		"CancelAll":            testCancelAll,
		"RetryDead":            testRetryDead,
		"RetryAllAndDeleteAll": testRetryAllAndDeleteAll,
		"Delete":               testDelete,
		"RemoveQueue":          testRemoveQueue,
	}
}

// recoveryTests returns the tests of leases, heartbeats and shutdowns.
func recoveryTests() testSet {
	return testSet{
		"LeaseExpiryRecovery":      testLeaseExpiryRecovery,
		"LeaseExpiryLastAttempt":   testLeaseExpiryLastAttempt,
		"HeartbeatKeepsLease":      testHeartbeatKeepsLease,
		"StaleOutcomeIgnored":      testStaleOutcomeIgnored,
		"LeaseLostToSameWorker":    testLeaseLostToSameWorker,
		"GracefulShutdownFinishes": testGracefulShutdownFinishes,
		"ShutdownRequeues":         testShutdownRequeues,
	}
}

// inspectTests returns the tests of reading jobs, workers and counters back.
func inspectTests() testSet {
	return testSet{
		"ResultTTL":      testResultTTL,
		"ListPagination": testListPagination,
		"WorkersListed":  testWorkersListed,
		"Counters":       testCounters,
	}
}

// scheduleTests returns the tests of the schedule store and the scheduler.
func scheduleTests() testSet {
	return testSet{
		"ScheduleStore":          testScheduleStore,
		"SchedulerOncePerTick":   testSchedulerOncePerTick,
		"SchedulerCatchUp":       testSchedulerCatchUp,
		"SchedulerEnableDisable": testSchedulerEnableDisable,
		"SchedulerRunNow":        testSchedulerRunNow,
	}
}

// observeTests returns the tests of metadata, observers, history, events and progress.
func observeTests() testSet {
	return testSet{
		"Metadata":             testMetadata,
		"Observer":             testObserver,
		"HistoryStore":         testHistoryStore,
		"WorkerRecordsHistory": testWorkerRecordsHistory,
		"EventsLifecycle":      testEventsLifecycle,
		"EventsRecovery":       testEventsRecovery,
		"EventsFilter":         testEventsFilter,
		"EventsAllQueues":      testEventsAllQueues,
		"Progress":             testProgress,
	}
}

// limitTests returns the tests of rate and concurrency limits.
func limitTests() testSet {
	return testSet{
		"LimitsStored":            testLimitsStored,
		"RateLimit":               testRateLimit,
		"RateLimitFetchWaits":     testRateLimitFetchWaits,
		"RateKeyLeavesOthers":     testRateKeyLeavesOthers,
		"TypeLimitUnkeyed":        testTypeLimitUnkeyed,
		"ConcurrencyLimit":        testConcurrencyLimit,
		"ConcurrencyKeyExclusive": testConcurrencyKeyExclusive,
		"ConcurrencyLeaseExpiry":  testConcurrencySlotLeaseExpiry,
		"LimitedEvents":           testLimitedEvents,
	}
}

// dependencyTests returns the tests of jobs that depend on others and of batches.
func dependencyTests() testSet {
	return testSet{
		"DependsChain":            testDependsChain,
		"DependsFanOutFanIn":      testDependsFanOutFanIn,
		"DependsAcrossQueues":     testDependsAcrossQueues,
		"DependsParentFails":      testDependsParentFails,
		"DependsCycleRefused":     testDependsCycleRefused,
		"DependsParentFinished":   testDependsParentFinished,
		"DependsCancelAndDelete":  testDependsCancelAndDelete,
		"DependsCancelAllWaiting": testDependsCancelAllWaiting,
		"DependsLongChain":        testDependsLongChain,
		"BatchCallbacks":          testBatchCallbacks,
		"BatchAcrossQueues":       testBatchAcrossQueues,
		"BatchOpen":               testBatchOpen,
		"BatchLarge":              testBatchLarge,
	}
}

// env is one test's broker, client and helpers.
type env struct {
	t      *testing.T
	broker queue.Broker
	client *queue.Client
	ctx    context.Context
}

func newEnv(t *testing.T, nb NewBroker) *env {
	t.Helper()
	b := nb(t)
	return &env{t: t, broker: b, client: queue.NewClient(b), ctx: t.Context()}
}

// runningWorker is a worker started by env.worker.
type runningWorker struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	t      *testing.T
}

// beginStop starts the worker's graceful shutdown without waiting for it.
func (w *runningWorker) beginStop() { w.cancel() }

// stop shuts the worker down and waits until Run has returned.
func (w *runningWorker) stop() {
	w.once.Do(func() {
		w.cancel()
		select {
		case err := <-w.done:
			if err != nil {
				w.t.Errorf("worker.Run returned %v", err)
			}
		case <-time.After(30 * time.Second):
			w.t.Errorf("worker did not stop within 30 s")
		}
	})
}

// worker starts a worker with cfg and handlers; it is stopped (gracefully) at cleanup.
func (e *env) worker(cfg queue.WorkerConfig, handlers map[string]queue.HandlerFunc) *runningWorker {
	e.t.Helper()
	if cfg.Lease == 0 {
		cfg.Lease = 5 * time.Second
	}
	if cfg.FetchWait == 0 {
		cfg.FetchWait = time.Second
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	if cfg.Backoff == nil {
		cfg.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
	}
	w := queue.NewWorker(e.broker, cfg)
	for typ, h := range handlers {
		w.Handle(typ, h)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(e.ctx))
	rw := &runningWorker{cancel: cancel, done: make(chan error, 1), t: e.t}
	go func() { rw.done <- w.Run(ctx) }()
	e.t.Cleanup(rw.stop)
	return rw
}

func (e *env) enqueue(typ string, payload any, opts ...queue.Option) *queue.Job {
	e.t.Helper()
	job, err := e.client.Enqueue(e.ctx, typ, payload, opts...)
	if err != nil {
		e.t.Fatalf("enqueue %s: %v", typ, err)
	}
	return job
}

func (e *env) get(id string) *queue.Job {
	e.t.Helper()
	job, err := e.client.Get(e.ctx, id)
	if err != nil {
		e.t.Fatalf("get %s: %v", id, err)
	}
	return job
}

// waitState polls until the job is in state want, failing after 15 s.
func (e *env) waitState(id string, want queue.State) *queue.Job {
	e.t.Helper()
	var job *queue.Job
	eventually(e.t, 15*time.Second, func() bool {
		j, err := e.client.Get(e.ctx, id)
		if err != nil {
			return false
		}
		job = j
		return j.State == want
	}, func() string {
		if job == nil {
			return "job " + id + " not found"
		}
		return "job " + id + " is " + string(job.State) + ", want " + string(want)
	})
	return job
}

func (e *env) stats(name string) queue.QueueStats {
	e.t.Helper()
	qs, err := e.client.Queues(e.ctx)
	if err != nil {
		e.t.Fatalf("queues: %v", err)
	}
	for _, q := range qs {
		if q.Name == name {
			return q
		}
	}
	return queue.QueueStats{Name: name}
}

// eventually polls cond until it holds, failing the test with msg() after within.
func eventually(t *testing.T, within time.Duration, cond func() bool, msg func() string) {
	t.Helper()
	testenv.Until(t, within, "waiting", cond, msg)
}

func noop(context.Context, *queue.Job) (any, error) { return nil, nil }

func mustIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}
