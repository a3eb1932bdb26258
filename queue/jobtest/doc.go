// Package jobtest helps users of the queue library test the code that enqueues and runs jobs,
// with nothing to start: no Redis, no file. It is for applications; the conformance suite that
// every broker passes is package queuetest.
//
// Its Broker is a real queue.Broker that keeps jobs in memory. It passes the same conformance
// suite as the Redis and SQLite brokers, so a Client and a Worker behave on it exactly as in
// production: retries and backoff, NoRetry, timeouts, cancellation, unique keys, delays,
// priorities, pause. What it adds for tests:
//
//   - Enqueued, RequireEnqueued and RequireNotEnqueued find jobs by type, payload (compared
//     as JSON values) and the queue.Option values the code under test passed (queue, retries,
//     timeout, run-at, unique key, ID, result TTL): assert what was enqueued without running it,
//     as Sidekiq's fake mode and River's rivertest do.
//   - WaitIdle (and Drain, its test helper) waits, without polling, until no job is runnable:
//     with a queue.Worker running on the broker (StartWorker), the enqueued jobs have then
//     been run through the real handlers, middleware and retry policy, as Sidekiq's drain does.
//   - Advance moves the broker's clock for delayed jobs and retries, so that a job enqueued
//     with queue.RunIn(24*time.Hour) or waiting for its backoff runs now, without waiting.
//
// A Broker lives as long as the test that made it and shares nothing with any other, so tests
// using it run in parallel. It is not a substitute for a production broker: its jobs die with
// the process.
package jobtest
