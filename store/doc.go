// Package store persists Dominion's workflow service: workflows, the steps
// they finished, per-execution metrics (the seed's WorkflowMetric) and weekly
// reports, in SQLite (embedded, the default) or PostgreSQL, behind one
// interface, Store.
//
// Open picks the backend from the DSN (postgres:// or postgresql:// for
// PostgreSQL, anything else is a SQLite file path) and applies the schema
// migrations embedded under migrations/<dialect>/ in one transaction,
// recording them in schema_migrations. `dominion migrate` opens with
// WithoutMigrate and calls Store.Migrate to print what it applied.
//
// Built with the nosqlite tag (as the container image's binary is), the package has no
// SQLite backend and does not link the driver: SQLite is false and Open of a SQLite DSN
// fails with ErrNoSQLite (sqlite.go and nosqlite.go).
//
// # Connection
//
// A PostgreSQL store opened with Lazy starts while the database is down: its pool opens no
// connection until the database has answered and the migrations are applied, so every call
// meanwhile fails at once with an error IsUnavailable reports and writes nothing. Whenever
// the database stops answering (at start or later) the store logs one line (WithLogger),
// tries to reach it with capped exponential backoff and jitter, and logs one line when it
// is back (connect.go).
//
// # Workflow lifecycle
//
// Every state change is one transaction, guarded by the current status, so
// concurrent callers (API, relay, workers) cannot make states or counts drift:
//
//	CreateWorkflow          → queued, not enqueued (the outbox)
//	MarkEnqueued            records the job id; PendingEnqueue lists the outbox
//	StartAttempt            queued|running → running, attempts+1
//	RecordStep              a step finished: CurrentStep advances (resume point)
//	StartGraph              a graph workflow: queued → running (attempts+1) or running as it
//	                        is, and the steps whose needs finished are released (Runs)
//	FinishStep              a graph step finished: the steps it unblocks are released, or the
//	                        workflow is completed with its metric, in the same transaction
//	SetStepState            a released step's try started or failed (Runs: state, tries)
//	FinishWorkflow          running → completed|failed + its metric, atomically
//	RecordRetriedAttempt    running stays running: a failed attempt's metric (retried)
//	CancelWorkflow          queued|running → canceled (+ the running attempt's metric)
//	RetryWorkflow           failed|canceled → queued, back in the outbox
//	AbandonWorkflow         queued|running → failed: its job died (the reconciler)
//	DeleteFinishedBefore    cleanup_old_workflows
//
// The workflow row is the outbox: the API creates it and answers 202 even if
// the queue is unreachable; a relay enqueues PendingEnqueue's workflows (job
// id = workflow id, so a duplicate enqueue is harmless) and MarkEnqueued them.
//
// # Sharing a file with the embedded queue
//
// WithWriter makes a SQLite store write through another owner's writer (the embedded
// queue's: sqlitebroker.Broker.InTx), so that the file it shares with the queue has one
// writer. NewWorkflow.Also then runs in the transaction that inserts the workflow (it
// enqueues the workflow's job), and NewWorkflow.JobID stores the row as enqueued already:
// the workflow and its job commit together, and the row never waits in the outbox.
//
// RecordStep, FinishWorkflow and RecordRetriedAttempt carry the attempt number; a call from an
// attempt that is no longer current fails with ErrStaleAttempt, so a worker
// whose lease expired cannot overwrite its successor's work.
//
// # Reports
//
// Summarize aggregates the workflows created in a period; the caller
// (generate_weekly_report) saves it with SaveReport under its ISO week
// ("2026-W05", see ISOWeek and ParseISOWeek). CountsSince feeds the
// dashboard's "today" counters.
//
// # Secrets
//
// A DSN's password never appears in errors: internal/redact gives the printable form,
// and errors from the driver are scrubbed.
//
// The shared test suite every backend passes is in package storetest.
package store
