// Package sqlitebroker is Dominion's embedded queue.Broker: with no REDIS_URL the whole queue
// lives in one SQLite file (WAL mode) in the data directory, with nothing to install. It uses
// the pure-Go driver modernc.org/sqlite (no cgo).
//
// # What it owns
//
// The file and everything in it: the tables jobs, queues (pause flag, processed and failed
// counters), counts (jobs per queue and state), uniques (unique keys held), workers
// (heartbeats), history, events and event_subscribers, whose schema is in sql/schema_NNN.sql
// and whose version is PRAGMA user_version: Open applies the missing schema files in one transaction and refuses a file
// made by a newer version. Every query is in sql/queries.sql, prepared once at Open.
//
// # What it promises
//
//   - Every transition (enqueue, fetch, finish, requeue, recover, promote, cancel, retry,
//     delete, pause) is one transaction: states, counts and counters never drift. Counts per
//     (queue, state, and priority for pending jobs) are kept in the same transaction, so
//     Queues costs the same with ten jobs or ten million: by triggers, except for the two
//     moves every job makes (pending to active in Fetch, active to completed in Finish),
//     which those statements add once per batch (sql/schema_009.sql).
//   - Crash safety: synchronous=NORMAL in WAL mode loses nothing when the process dies
//     (SIGKILL included); only a power loss may lose the last transactions. Jobs a dead
//     process held come back by lease expiry: the next Fetch (in any process) puts an active
//     job whose lease passed back to pending with the error "lease expired: worker <id>
//     stopped heartbeating" for that attempt, or to dead when that was its last attempt.
//   - Several processes may share the file. Writes are serialized in Go by one writer
//     connection per Broker (SQLite has one writer at a time); other processes are waited for
//     up to Options.BusyTimeout. Reads use a separate pool and never wait for writes.
//   - Group commit: operations that reach the writer while it is busy run together in the
//     next transaction, each in a savepoint (one failing undoes only itself), so that a
//     Fetch, the previous batch's Finish and a Heartbeat cost one commit.
//   - A program may keep its own tables in the file and write them through the broker's
//     writer (InTx): its statements and the jobs it enqueues in the same Tx commit together
//     or not at all, as River's InsertTx does on PostgreSQL. The broker knows nothing of
//     those tables (Dominion's workflow store uses it in embedded mode).
//   - No polling on the hot path: an Enqueue (or Retry, Resume, Requeue) wakes the waiting
//     Fetch calls of its process at once; a write by another process wakes them within
//     Options.PollInterval (PRAGMA data_version, read only while a Fetch waits); a waiting
//     Fetch also wakes by itself at the earliest run-at, lease deadline or result expiry.
//   - Fetch also does the bounded housekeeping: due scheduled and retry jobs become pending,
//     expired leases are recovered, completed and canceled jobs are deleted once their result
//     TTL has passed (a ResultTTL of 0 deletes them at the next Fetch). Dead jobs are capped
//     per queue by Options.MaxDead, the oldest deleted first.
//   - Unique keys are per queue. A key is held from enqueue for UniqueFor (for ever when
//     UniqueFor is 0) and released early when its job completes, dies, is canceled or
//     deleted.
//   - List walks the (queue, state, position) index and reads whole rows only for the jobs it
//     returns. Positions: pending jobs in queue order (Requeue puts jobs in front), scheduled
//     and retry jobs by run-at, finished jobs by finish time.
//   - Events (queue.EventStore): triggers record a job's events in the events table in the
//     transaction of each transition, for the queues that a live row of event_subscribers
//     names. The triggers exist only while someone subscribes: Subscribe creates them, and
//     the end of the last subscription (or a worker's heartbeat once the rows of a dead
//     subscriber expired) drops them, so that with no subscriber a transition costs nothing
//     more.
//     A subscriber in any process reads the rows after the last it saw: it is woken at once
//     by a commit of its own process, and within Options.PollInterval by a write of another
//     process (the writer's PRAGMA data_version check that wakes a waiting Fetch: a poll,
//     but a cheap read that runs only while someone waits). The last 10,000 events are kept.
//   - Limits (queue.QueueLimits) are the queues.limits column (JSON) and the rate limiter
//     state the queues.tat column and the rate_keys table. Fetch reads a queue's limits row
//     in the same transaction (one indexed lookup, also on unlimited queues); on a limited
//     queue it walks the pending jobs in order (at most 10,000 per fetch) and skips those held
//     back by their key's limit, which stay pending. Running counts are the active jobs, so a
//     slot held by a dead process is free when its lease is recovered.
//   - Dependencies and batches (schema_011.sql to schema_013.sql): a waiting job's parents are
//     rows of deps and batches counts its jobs' final states; triggers release the waiting
//     children of a job that ends (whatever statement ended it: finish, cancel, recovery,
//     deadline, delete), count batch jobs, and insert a sealed batch's callbacks when its
//     last job finishes, all in that transaction. The children of a job that ended dead or
//     canceled, or was deleted, are recorded in cascade, and the writer cancels them after
//     the operation, in its transaction, one generation per round (drainCascade): chains of
//     any depth, where recursive triggers stop at SQLite's 1000 levels. Releases still nest
//     triggers two deep (PRAGMA recursive_triggers on the writer). jobs has one trigger per kind of statement (insert, state change,
//     delete) doing all of this with the counts and unique keys: a trigger costs about as
//     much to fire as its statements, so a plain job's take and finish fire one each and
//     run none of its statements (its WHEN is false).
//   - A file that is not a database, that another process keeps locked, or that cannot be
//     created or written gives an error naming the file and saying what it likely means,
//     never an empty queue.
package sqlitebroker
