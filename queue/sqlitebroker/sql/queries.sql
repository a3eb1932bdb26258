-- Queries of the embedded broker, one per "-- name:" section, prepared once at Open.
-- {{job_columns}} stands for the columns scanJob reads, in its order.
-- Times are Unix nanoseconds; see schema_001.sql for what ord and due mean in each state
-- (and schema_005.sql for pending jobs with a deadline: due is the deadline, NULL for none).

-- name: ensure-queue
INSERT INTO queues (name) VALUES (?1) ON CONFLICT (name) DO NOTHING;

-- name: job-exists
SELECT 1 FROM jobs WHERE id = ?1;

-- name: insert-job
INSERT INTO jobs (id, queue, type, payload, state, ord, due, max_retries, timeout, run_at,
                  unique_key, unique_for, result_ttl, enqueued_at, metadata, priority, deadline, rate_key)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
ON CONFLICT (id) DO NOTHING;

-- name: insert-jobs
-- Many jobs without unique key at once. ?1 is a JSON array with one array per job:
-- [id, queue, type, payload in hex or null, state, ord, due, max_retries, timeout, run_at,
--  unique_for, result_ttl, enqueued_at, metadata JSON text or null, priority, deadline, rate key or null].
-- RETURNING names the jobs stored (not duplicates).
INSERT INTO jobs (id, queue, type, payload, state, ord, due, max_retries, timeout, run_at,
                  unique_for, result_ttl, enqueued_at, metadata, priority, deadline, rate_key)
SELECT value ->> 0, value ->> 1, value ->> 2, unhex(value ->> 3), value ->> 4, value ->> 5,
       value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11, value ->> 12,
       value ->> 13, value ->> 14, value ->> 15, value ->> 16
FROM jsonb_each(?1) WHERE true
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- name: hold-unique
-- Takes the key unless a live hold exists (expires_at > now); changes() = 0 means held.
INSERT INTO uniques (queue, key, job_id, expires_at) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (queue, key) DO UPDATE SET job_id = excluded.job_id, expires_at = excluded.expires_at
WHERE uniques.expires_at <= ?5;

-- name: min-due
SELECT min(due) FROM jobs WHERE due IS NOT NULL;

-- name: promote-due
UPDATE jobs SET state = 'pending', ord = due, due = nullif(deadline, 0)
WHERE rowid IN (SELECT rowid FROM jobs
                WHERE due <= ?1 AND state IN ('scheduled', 'retry') ORDER BY due LIMIT ?2);

-- name: recover-expired
UPDATE jobs SET
    state = CASE WHEN cancel_requested THEN 'canceled'
                 WHEN attempt > max_retries THEN 'dead'
                 ELSE 'pending' END,
    due = CASE WHEN cancel_requested THEN ?1 + result_ttl
               WHEN attempt > max_retries THEN NULL
               ELSE nullif(deadline, 0) END,
    -- back to pending: in front of the queue (so of the job's priority)
    ord = CASE WHEN cancel_requested OR attempt > max_retries THEN ?1
               ELSE coalesce((SELECT min(p.ord) FROM jobs AS p
                              WHERE p.queue = jobs.queue AND p.state = 'pending'), ?1) - 1 END,
    finished_at = CASE WHEN cancel_requested OR attempt > max_retries THEN ?1 ELSE finished_at END,
    errors = json_insert(coalesce(errors, '[]'), '$[#]', json_object(
        'attempt', attempt,
        'error', 'lease expired: worker ' || worker_id || ' stopped heartbeating',
        'at', ?3))
WHERE rowid IN (SELECT rowid FROM jobs WHERE due <= ?1 AND state = 'active' ORDER BY due LIMIT ?2)
RETURNING id, queue, state, worker_id, attempt;

-- name: expire-deadlines
-- Pending jobs whose deadline (their due) has passed end dead, never started.
UPDATE jobs SET state = 'dead', due = NULL, ord = ?1, finished_at = ?1,
    errors = json_insert(coalesce(errors, '[]'), '$[#]', json_object(
        'attempt', attempt, 'error', 'deadline exceeded', 'at', ?3))
WHERE rowid IN (SELECT rowid FROM jobs WHERE due <= ?1 AND state = 'pending' ORDER BY due LIMIT ?2)
RETURNING queue;

-- name: delete-expired
DELETE FROM jobs
WHERE rowid IN (SELECT rowid FROM jobs
                WHERE due <= ?1 AND state IN ('completed', 'canceled') ORDER BY due LIMIT ?2);

-- name: take
-- The caller has checked, in the same transaction, that the queue is not paused (queue-limits).
UPDATE jobs SET state = 'active', attempt = attempt + 1, started_at = ?1, finished_at = 0,
                worker_id = ?2, due = ?3
WHERE rowid IN (SELECT rowid FROM jobs WHERE queue = ?4 AND state = 'pending'
                ORDER BY priority DESC, ord LIMIT ?5)
RETURNING {{job_columns}}, ord, rowid;

-- name: finish
-- ?1 is a JSON array with one array per outcome:
-- [id, worker, attempt, state, finished-at, retry-at, result in hex or null, error entry or null,
--  snooze 0 or 1] (the error entry is the JSON of a queue.AttemptError, as a string). A snooze
-- is a retry that gives the attempt back. The outcomes are read into a table first
-- (MATERIALIZED): as a subquery of the FROM, each use of a field read it from the JSON again.
WITH o AS MATERIALIZED (
    SELECT value ->> 0 AS out_id, value ->> 1 AS out_worker, value ->> 2 AS out_attempt,
           value ->> 3 AS out_state, value ->> 4 AS out_finished, value ->> 5 AS out_retry,
           value ->> 6 AS out_result, value ->> 7 AS out_error, value ->> 8 AS out_snooze
    FROM jsonb_each(?1))
UPDATE jobs SET
    state = CASE WHEN cancel_requested THEN 'canceled' ELSE o.out_state END,
    attempt = attempt - o.out_snooze,
    finished_at = o.out_finished,
    run_at = CASE WHEN o.out_state = 'retry' AND NOT cancel_requested THEN o.out_retry ELSE run_at END,
    result = coalesce(unhex(o.out_result), result),
    errors = CASE WHEN o.out_error IS NULL THEN errors
                  ELSE json_insert(coalesce(errors, '[]'), '$[#]', json(o.out_error)) END,
    due = CASE WHEN cancel_requested OR o.out_state = 'completed' THEN o.out_finished + result_ttl
               WHEN o.out_state = 'retry' THEN o.out_retry
               ELSE NULL END,
    ord = CASE WHEN o.out_state = 'retry' AND NOT cancel_requested THEN o.out_retry ELSE o.out_finished END
FROM o
WHERE jobs.id = o.out_id AND jobs.state = 'active' AND jobs.worker_id = o.out_worker
  AND jobs.attempt = o.out_attempt
RETURNING id, queue, state, has_children OR batch IS NOT NULL;

-- name: add-count
-- Adds ?3 (negative: removes) to the count of queue ?1's jobs in count state ?2 (counts.go).
INSERT INTO counts (queue, state, n) VALUES (?1, ?2, ?3)
ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n;

-- name: add-counters
UPDATE queues SET processed = processed + ?2, failed = failed + ?3 WHERE name = ?1;

-- name: trim-dead
DELETE FROM jobs
WHERE rowid IN (SELECT rowid FROM jobs WHERE queue = ?1 AND state = 'dead' ORDER BY ord
                LIMIT max(0, coalesce((SELECT n FROM counts WHERE queue = ?1 AND state = 'dead'), 0) - ?2));

-- name: front-of-queue
SELECT coalesce(min(ord), ?2) - 1 FROM jobs WHERE queue = ?1 AND state = 'pending';

-- name: requeue
UPDATE jobs SET
    state = CASE WHEN cancel_requested THEN 'canceled' ELSE 'pending' END,
    attempt = attempt - 1,
    ord = CASE WHEN cancel_requested THEN ?4 ELSE ?3 END,
    due = CASE WHEN cancel_requested THEN ?4 + result_ttl ELSE nullif(deadline, 0) END,
    finished_at = CASE WHEN cancel_requested THEN ?4 ELSE 0 END
WHERE id = ?1 AND worker_id = ?2 AND state = 'active' AND attempt = ?5
RETURNING queue;

-- name: upsert-worker
INSERT INTO workers (id, info, heartbeat, expires_at) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (id) DO UPDATE SET info = excluded.info, heartbeat = excluded.heartbeat,
                               expires_at = excluded.expires_at;

-- name: extend-leases
UPDATE jobs SET due = ?1
WHERE id IN (SELECT value FROM json_each(?2)) AND state = 'active' AND worker_id = ?3
RETURNING id, cancel_requested;

-- name: delete-stale-workers
DELETE FROM workers WHERE expires_at < ?1;

-- name: delete-worker
DELETE FROM workers WHERE id = ?1;

-- name: job-state
SELECT state FROM jobs WHERE id = ?1;

-- name: cancel-now
UPDATE jobs SET state = 'canceled', finished_at = ?2, ord = ?2, due = ?2 + result_ttl WHERE id = ?1;

-- name: cancel-all
-- As cancel-now, for every job of queue ?1 in state ?2 (pending, scheduled or retry).
UPDATE jobs SET state = 'canceled', finished_at = ?3, ord = ?3, due = ?3 + result_ttl
WHERE queue = ?1 AND state = ?2;

-- name: cancel-request
UPDATE jobs SET cancel_requested = 1 WHERE id = ?1;

-- name: retry-job
UPDATE jobs SET state = 'pending', attempt = 0, ord = ?2, due = nullif(deadline, 0), run_at = 0,
                finished_at = 0, cancel_requested = 0, retried_at = ?2
WHERE id = ?1;

-- name: retry-all
UPDATE jobs SET state = 'pending', attempt = 0, ord = ?3, due = nullif(deadline, 0), run_at = 0,
                finished_at = 0, cancel_requested = 0, retried_at = ?3
WHERE queue = ?1 AND state = ?2;

-- name: delete-job
DELETE FROM jobs WHERE id = ?1;

-- name: delete-all
DELETE FROM jobs WHERE queue = ?1 AND state = ?2;

-- name: set-paused
UPDATE queues SET paused = ?2 WHERE name = ?1;

-- name: queue-exists
SELECT 1 FROM queues WHERE name = ?1 UNION ALL SELECT 1 FROM jobs WHERE queue = ?1 LIMIT 1;

-- name: remove-queue-jobs
DELETE FROM jobs WHERE queue = ?1;

-- name: remove-queue-uniques
DELETE FROM uniques WHERE queue = ?1;

-- name: remove-queue-counts
DELETE FROM counts WHERE queue = ?1;

-- name: remove-queue
DELETE FROM queues WHERE name = ?1;

-- name: get-job
SELECT {{job_columns}} FROM jobs WHERE id = ?1;

-- name: list-jobs
-- The inner query walks only the (queue, state, ord) index; whole rows are read for the
-- returned jobs alone.
SELECT {{job_columns}} FROM jobs
WHERE rowid IN (SELECT rowid FROM jobs WHERE queue = ?1 AND state = ?2 ORDER BY ord LIMIT ?3 OFFSET ?4)
ORDER BY ord, rowid;

-- name: list-pending
-- As list-jobs, for pending jobs: in the order take takes them (index jobs_pending).
SELECT {{job_columns}} FROM jobs
WHERE rowid IN (SELECT rowid FROM jobs WHERE queue = ?1 AND state = 'pending'
                ORDER BY priority DESC, ord LIMIT ?2 OFFSET ?3)
ORDER BY priority DESC, ord, rowid;

-- name: list-queues
SELECT name, paused, processed, failed, limits FROM queues ORDER BY name;

-- name: list-counts
SELECT queue, state, n FROM counts WHERE n <> 0;

-- name: oldest-pending
SELECT enqueued_at FROM jobs WHERE queue = ?1 AND state = 'pending' ORDER BY ord LIMIT 1;

-- name: list-workers
SELECT info, heartbeat FROM workers WHERE expires_at >= ?1 ORDER BY id;

-- name: data-version
PRAGMA data_version;

-- name: record-sample
-- The first sample of a slot wins: another worker's for the same slot changes nothing.
INSERT INTO history (slot, pending, active, scheduled, retry, dead, processed, failed)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (slot) DO NOTHING;

-- name: trim-history
DELETE FROM history WHERE slot < ?1;

-- name: list-samples
SELECT slot, pending, active, scheduled, retry, dead, processed, failed
FROM history WHERE slot >= ?1 ORDER BY slot;

-- name: set-progress
UPDATE jobs SET progress = ?5 WHERE id = ?1 AND state = 'active' AND worker_id = ?2 AND attempt = ?3
  AND queue = ?4;

-- name: subscribe
INSERT INTO event_subscribers (id, queue, expires_at) VALUES (?1, ?2, ?3)
ON CONFLICT (queue, id) DO UPDATE SET expires_at = excluded.expires_at;

-- name: unsubscribe
DELETE FROM event_subscribers WHERE id = ?1 OR expires_at <= ?2;

-- name: last-event
SELECT coalesce(max(seq), 0) FROM events;

-- name: read-events
SELECT seq, kind, job_id, queue, type, state, attempt, coalesce(error, ''), coalesce(progress, ''), at
FROM events WHERE seq > ?1 ORDER BY seq LIMIT 1000;

-- name: events-on-insert
CREATE TRIGGER IF NOT EXISTS jobs_event_insert AFTER INSERT ON jobs
WHEN EXISTS (SELECT 1 FROM event_subscribers WHERE queue IN (NEW.queue, '') AND expires_at > unixepoch())
BEGIN
    INSERT INTO events (kind, job_id, queue, type, state, attempt, at)
    VALUES ('enqueued', NEW.id, NEW.queue, NEW.type, NEW.state, NEW.attempt, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;

-- name: events-on-update
-- The kind of a transition follows from the states before and after (see queue.EventKind):
-- a promotion of a due scheduled or retry job to pending reports nothing.
CREATE TRIGGER IF NOT EXISTS jobs_event_update AFTER UPDATE OF state, progress ON jobs
WHEN EXISTS (SELECT 1 FROM event_subscribers WHERE queue IN (NEW.queue, '') AND expires_at > unixepoch())
BEGIN
    INSERT INTO events (kind, job_id, queue, type, state, attempt, error, progress, at)
    SELECT kind, NEW.id, NEW.queue, NEW.type, NEW.state, NEW.attempt,
           CASE WHEN kind IN ('failed', 'dead') AND NEW.errors IS NOT OLD.errors
                THEN json_extract(NEW.errors, '$[#-1].error') END,
           CASE WHEN kind = 'progress' THEN NEW.progress END,
           CAST(unixepoch('subsec') * 1000 AS INTEGER)
    FROM (SELECT CASE
        WHEN NEW.state = OLD.state THEN
            CASE WHEN NEW.state = 'active' AND NEW.progress IS NOT OLD.progress THEN 'progress' END
        WHEN NEW.state = 'active' THEN 'started'
        WHEN NEW.state = 'retry' THEN 'failed'
        WHEN NEW.state IN ('completed', 'dead', 'canceled') THEN NEW.state
        WHEN NEW.state = 'pending' AND OLD.state = 'active' AND NEW.attempt < OLD.attempt THEN 'retried'
        WHEN NEW.state = 'pending' AND OLD.state = 'active' THEN 'failed'
        WHEN NEW.state = 'pending' AND NEW.retried_at <> OLD.retried_at THEN 'retried'
    END AS kind)
    WHERE kind IS NOT NULL;
END;

-- name: events-on-trim
-- The backlog: every thousandth event drops those more than 10000 behind it.
CREATE TRIGGER IF NOT EXISTS events_trim AFTER INSERT ON events WHEN NEW.seq % 1000 = 0 BEGIN
    DELETE FROM events WHERE seq <= NEW.seq - 10000;
END;

-- name: events-idle
-- Whether the event triggers exist while no subscription is alive.
SELECT NOT EXISTS (SELECT 1 FROM event_subscribers WHERE expires_at > ?1)
   AND EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'trigger' AND name = 'jobs_event_update');

-- name: events-off-insert
DROP TRIGGER IF EXISTS jobs_event_insert;

-- name: events-off-update
DROP TRIGGER IF EXISTS jobs_event_update;

-- name: events-off-trim
DROP TRIGGER IF EXISTS events_trim;
-- name: queue-limits
-- The limits (JSON), rate limiter state and pause flag of a queue; NULL limits for none.
SELECT limits, tat, tat_starts, tat_late, paused FROM queues WHERE name = ?1;

-- name: set-limits
INSERT INTO queues (name, limits) VALUES (?1, ?2)
ON CONFLICT (name) DO UPDATE SET limits = excluded.limits;

-- name: set-queue-tat
UPDATE queues SET tat = ?2, tat_starts = ?3, tat_late = ?4 WHERE name = ?1;

-- name: running-by-key
-- The active jobs of a queue per count key (queue.CountKey: the rate key, else '@' and the type).
SELECT CASE WHEN coalesce(rate_key, '') = '' THEN '@' || type ELSE rate_key END, count(*)
FROM jobs WHERE queue = ?1 AND state = 'active' GROUP BY 1;

-- name: key-tats
SELECT key, tat, starts, late FROM rate_keys WHERE queue = ?1 AND until > ?2;

-- name: set-key-tat
INSERT INTO rate_keys (queue, key, tat, starts, late, until) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (queue, key) DO UPDATE SET tat = excluded.tat, starts = excluded.starts, late = excluded.late,
until = excluded.until;

-- name: trim-key-tats
DELETE FROM rate_keys WHERE queue = ?1 AND until <= ?2;

-- name: pending-candidates
-- The pending jobs of a limited queue in the order Fetch takes them, for the limits to choose
-- from (at most ?2 looked at).
SELECT rowid, type, coalesce(rate_key, '') FROM jobs WHERE queue = ?1 AND state = 'pending'
ORDER BY priority DESC, ord LIMIT ?2;

-- name: take-rows
-- Leases the jobs whose rowids are in the JSON array ?4.
UPDATE jobs SET state = 'active', attempt = attempt + 1, started_at = ?1, finished_at = 0,
                worker_id = ?2, due = ?3
WHERE rowid IN (SELECT value FROM json_each(?4)) AND state = 'pending'
RETURNING {{job_columns}}, ord, rowid;

-- name: get-limits
SELECT limits FROM queues WHERE name = ?1;

-- name: remove-queue-rate-keys
DELETE FROM rate_keys WHERE queue = ?1;

-- name: insert-graph-job
-- A job with parents or a batch (schema_011.sql), in state ?5: pending, scheduled, waiting
-- (with ?22 parents to wait for) or canceled (a parent failed: ?19 is its error history,
-- ?6 its finish time).
INSERT INTO jobs (id, queue, type, payload, state, ord, due, max_retries, timeout, run_at,
                  unique_key, unique_for, result_ttl, enqueued_at, metadata, priority, deadline,
                  rate_key, errors, parents, run_anyway, waits, batch, finished_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
        ?20, ?21, ?22, ?23, CASE WHEN ?5 = 'canceled' THEN ?6 ELSE 0 END);

-- name: parent-state
SELECT state FROM jobs WHERE id = ?1;

-- name: add-child
INSERT INTO deps (parent, child) VALUES (?1, ?2) ON CONFLICT DO NOTHING;

-- name: mark-parent
UPDATE jobs SET has_children = 1 WHERE id = ?1 AND NOT has_children;

-- name: batch-sealed
SELECT sealed FROM batches WHERE id = ?1;

-- name: open-batch
INSERT INTO batches (id, on_complete, on_success, created_at, keep) VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (id) DO NOTHING;

-- name: trim-batches
-- Finished batches kept past their keep time go.
DELETE FROM batches WHERE finished_at > 0 AND finished_at + keep < ?1;

-- name: seal-batch
UPDATE batches SET sealed = 1 WHERE id = ?1;

-- name: get-batch
SELECT sealed, total, completed, dead, canceled, on_complete ->> 0, on_success ->> 0,
       created_at, finished_at
FROM batches WHERE id = ?1;

-- name: savepoint
-- One operation of a group transaction (writer.go).
SAVEPOINT op;

-- name: rollback-to-savepoint
ROLLBACK TO op;

-- name: release-savepoint
RELEASE op;

-- name: cascade-last
-- The last child recorded for the cascade (schema_013.sql); NULL when there is none.
SELECT max(seq) FROM cascade;

-- name: cascade-cancel
-- One generation of the cascade: the children recorded up to ?1 that still wait (and do not
-- run anyway) are canceled, naming one failed parent; their trigger records their own.
UPDATE jobs SET
    state = 'canceled', waits = 0,
    finished_at = CAST(unixepoch('subsec') * 1e9 AS INTEGER),
    ord = CAST(unixepoch('subsec') * 1e9 AS INTEGER),
    due = CAST(unixepoch('subsec') * 1e9 AS INTEGER) + result_ttl,
    errors = json_insert(coalesce(errors, '[]'), '$[#]', json_object('attempt', 0,
        'error', 'parent job ' || c.parent || ' is ' || c.how,
        'at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
FROM (SELECT child, min(parent) AS parent, how FROM cascade WHERE seq <= ?1 GROUP BY child) AS c
WHERE jobs.id = c.child AND jobs.state = 'waiting' AND NOT jobs.run_anyway;

-- name: cascade-trim
DELETE FROM cascade WHERE seq <= ?1;
