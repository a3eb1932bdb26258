// Package queue is Dominion's job-queue engine, usable as a Go library on its own.
//
// A Client enqueues jobs; a Worker fetches them, runs the handler registered for their type and
// records the outcome; a Broker stores them. Two brokers ship: redisbroker (Redis, for many
// worker processes on many machines) and sqlitebroker (an embedded SQLite file, for one machine
// with nothing installed). Both pass the same conformance suite, queuetest.
//
// What the package promises:
//
//   - At-least-once execution. A job whose worker dies (SIGKILL, power loss, network cut) loses
//     its lease and runs again; a handler gets the job ID and attempt number to make its effects
//     idempotent.
//   - Exactly-once bookkeeping. Every state transition is one atomic step in the broker, so
//     counts and states never drift.
//   - No sleep-polling on the hot path. An idle worker is woken by the enqueue itself.
//   - Retries with exponential backoff and jitter (see DefaultBackoff); an error wrapped with
//     NoRetry, a payload that does not decode, or the last allowed attempt sends the job to the
//     dead state, where it stays until it is retried or deleted.
//   - Priorities inside a queue: a job's Priority, from MinPriority (-5) to MaxPriority (5),
//     default DefaultPriority (0, the middle), orders the queue's pending jobs: higher runs
//     first, FIFO within a priority. A job that comes back to pending keeps its priority
//     (requeued at shutdown or recovered after a lost lease: at the front of it; promoted
//     after a delay or backoff, or retried: at the back). Across queues, a worker's strict or
//     weighted queue selection applies as before. QueueStats.PendingByPriority counts them.
//   - Deadlines: a job with a Deadline that has not finished by then is not started again. A
//     pending job past it ends dead with the error "deadline exceeded" when a fetch meets it,
//     without running; a failed attempt whose retry would run after it ends dead at once;
//     the running handler's context ends at the earlier of the deadline and the timeout. A
//     run-at after the deadline is refused at enqueue (ErrInvalidJob).
//   - Nothing is created by mistake: pausing or resuming a queue that has never had a job is
//     refused (ErrQueueNotFound), so a misspelled name leaves no phantom queue.
//   - Rate and concurrency limits (QueueLimits, Client.SetLimits) per queue and per rate key
//     (RateKey), kept in the broker and so shared by every worker: a job over a limit is not
//     started and not counted as an attempt, its worker waits for the next slot without
//     polling, and a key over its limit does not hold back the jobs of other keys.
//   - A bounded recent history: workers record the queues' totals in the broker once per
//     HistorySlot, the last HistoryKeep kept (HistoryStore, Client.History), so a dashboard
//     shows the last hour to whoever opens it.
//   - Progress and lifecycle events: a handler reports how far it is (ReportProgress; stored
//     with the job, coalesced by the worker), and Client.Subscribe streams the jobs' events
//     (EventKind) to any process, each recorded in the same atomic step as its transition, in
//     order per job, at most once, and only while someone subscribes.
//   - Dependencies: a job enqueued with DependsOn waits (StateWaiting) until every parent has
//     completed and becomes pending in the same atomic step as its last parent's outcome; a
//     parent that ends dead, canceled or deleted cancels it, with an error naming the parent,
//     and so on down the chain, unless it says RunOnParentFailure. An unknown parent or a
//     cycle is refused at enqueue (ErrInvalidJob). A job without parents pays one check.
//     ParentResults gives a handler its parents' results.
//   - Batches: jobs enqueued InBatch (OpenBatch, SealBatch, or EnqueueBatch at once) are
//     counted by final state (Client.Batch); once the batch is sealed and its last job has
//     finished, its OnComplete callback (and OnSuccess, when every job completed) is enqueued
//     exactly once, in the same atomic step as that last outcome, so a worker killed at that
//     moment neither loses nor doubles it.
package queue
