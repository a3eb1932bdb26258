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
//   - Nothing is created by mistake: pausing or resuming a queue that has never had a job is
//     refused (ErrQueueNotFound), so a misspelled name leaves no phantom queue.
//   - A bounded recent history: workers record the queues' totals in the broker once per
//     HistorySlot, the last HistoryKeep kept (HistoryStore, Client.History), so a dashboard
//     shows the last hour to whoever opens it.
package queue
