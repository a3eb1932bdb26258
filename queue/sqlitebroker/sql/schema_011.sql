-- Schema version 11: dependencies (queue.DependsOn) and batches (queue.InBatch).
--
-- A job with parents waits in state 'waiting' (ord: when it was enqueued, due NULL) until
-- every parent has completed; the triggers below release or cancel it in the same transaction
-- as its last parent's transition, whatever statement made it (finish, cancel, lease
-- recovery, deadline, delete). They cascade through the jobs they cancel, so the writer runs
-- with PRAGMA recursive_triggers on (SQLite nests triggers at most 1000 deep: a failure
-- cancels at most that many generations of waiting dependents in one transition).
--
-- jobs.parents     JSON array of the parents' IDs (queue.Job.DependsOn), NULL when none
-- jobs.waits       while waiting: the number of parents not finished
-- jobs.run_anyway  1: a parent that ends dead or canceled counts as finished (RunOnParentFailure)
-- jobs.has_children 1 once a job has been given children (rows of deps)
-- jobs.batch       the ID of the job's batch, NULL when none
ALTER TABLE jobs ADD COLUMN parents TEXT;
ALTER TABLE jobs ADD COLUMN waits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN run_anyway INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN has_children INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN batch TEXT;

-- The waiting children of each parent (rows go when the parent ends).
CREATE TABLE deps (
    parent TEXT NOT NULL,
    child  TEXT NOT NULL,
    PRIMARY KEY (parent, child)
) WITHOUT ROWID;

-- Batches: counts of their jobs' final states, kept by the triggers below; on_complete and
-- on_success are the callback jobs as insert-jobs rows (JSON arrays), NULL for none;
-- finished_at is set, and the callbacks inserted, once when the sealed batch has no job left.
CREATE TABLE batches (
    id          TEXT PRIMARY KEY,
    sealed      INTEGER NOT NULL DEFAULT 0,
    total       INTEGER NOT NULL DEFAULT 0,
    completed   INTEGER NOT NULL DEFAULT 0,
    dead        INTEGER NOT NULL DEFAULT 0,
    canceled    INTEGER NOT NULL DEFAULT 0,
    on_complete TEXT,
    on_success  TEXT,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL DEFAULT 0,
    keep        INTEGER NOT NULL
) WITHOUT ROWID;

-- A parent ends: each waiting child is released by a completed parent (or any, when it runs
-- anyway) and becomes pending (scheduled while its run-at is ahead) when that was its last
-- parent; the others are canceled with the reason, which fires this trigger for their own
-- children.
CREATE TRIGGER jobs_parent_ended AFTER UPDATE OF state ON jobs
WHEN NEW.has_children AND NEW.state IN ('completed', 'dead', 'canceled')
     AND OLD.state NOT IN ('completed', 'dead', 'canceled')
BEGIN
    UPDATE jobs SET
        waits = waits - 1,
        state = CASE WHEN waits > 1 THEN 'waiting'
                     WHEN run_at > CAST(unixepoch('subsec') * 1e9 AS INTEGER) THEN 'scheduled'
                     ELSE 'pending' END,
        ord = CASE WHEN waits > 1 THEN ord
                   WHEN run_at > CAST(unixepoch('subsec') * 1e9 AS INTEGER) THEN run_at
                   ELSE CAST(unixepoch('subsec') * 1e9 AS INTEGER) END,
        due = CASE WHEN waits > 1 THEN NULL
                   WHEN run_at > CAST(unixepoch('subsec') * 1e9 AS INTEGER) THEN run_at
                   WHEN deadline > 0 THEN deadline END
    WHERE state = 'waiting' AND (NEW.state = 'completed' OR run_anyway)
      AND id IN (SELECT child FROM deps WHERE parent = NEW.id);
    UPDATE jobs SET
        state = 'canceled', waits = 0,
        finished_at = CAST(unixepoch('subsec') * 1e9 AS INTEGER),
        ord = CAST(unixepoch('subsec') * 1e9 AS INTEGER),
        due = CAST(unixepoch('subsec') * 1e9 AS INTEGER) + result_ttl,
        errors = json_insert(coalesce(errors, '[]'), '$[#]', json_object('attempt', 0,
            'error', 'parent job ' || NEW.id || ' is ' || NEW.state,
            'at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
    WHERE state = 'waiting' AND NEW.state <> 'completed' AND NOT run_anyway
      AND id IN (SELECT child FROM deps WHERE parent = NEW.id);
    DELETE FROM deps WHERE parent = NEW.id;
END;

-- A parent deleted before it finished cancels its waiting children (releases those that run
-- anyway), as jobs_parent_ended does for a failed one.
CREATE TRIGGER jobs_parent_deleted AFTER DELETE ON jobs
WHEN OLD.has_children AND OLD.state NOT IN ('completed', 'dead', 'canceled')
BEGIN
    UPDATE jobs SET
        waits = waits - 1,
        state = CASE WHEN waits > 1 THEN 'waiting'
                     WHEN run_at > CAST(unixepoch('subsec') * 1e9 AS INTEGER) THEN 'scheduled'
                     ELSE 'pending' END,
        ord = CASE WHEN waits > 1 THEN ord
                   WHEN run_at > CAST(unixepoch('subsec') * 1e9 AS INTEGER) THEN run_at
                   ELSE CAST(unixepoch('subsec') * 1e9 AS INTEGER) END,
        due = CASE WHEN waits > 1 THEN NULL
                   WHEN run_at > CAST(unixepoch('subsec') * 1e9 AS INTEGER) THEN run_at
                   WHEN deadline > 0 THEN deadline END
    WHERE state = 'waiting' AND run_anyway AND id IN (SELECT child FROM deps WHERE parent = OLD.id);
    UPDATE jobs SET
        state = 'canceled', waits = 0,
        finished_at = CAST(unixepoch('subsec') * 1e9 AS INTEGER),
        ord = CAST(unixepoch('subsec') * 1e9 AS INTEGER),
        due = CAST(unixepoch('subsec') * 1e9 AS INTEGER) + result_ttl,
        errors = json_insert(coalesce(errors, '[]'), '$[#]', json_object('attempt', 0,
            'error', 'parent job ' || OLD.id || ' is deleted',
            'at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
    WHERE state = 'waiting' AND NOT run_anyway AND id IN (SELECT child FROM deps WHERE parent = OLD.id);
    DELETE FROM deps WHERE parent = OLD.id;
END;

-- Batch counts follow their jobs: joining (canceled at once by a failed parent, possibly),
-- entering or leaving a final state (a retry leaves it), and deletion before finishing
-- (counted as canceled).
CREATE TRIGGER jobs_batch_insert AFTER INSERT ON jobs WHEN NEW.batch IS NOT NULL BEGIN
    UPDATE batches SET total = total + 1, canceled = canceled + (NEW.state = 'canceled')
    WHERE id = NEW.batch;
END;

CREATE TRIGGER jobs_batch_update AFTER UPDATE OF state ON jobs
WHEN NEW.batch IS NOT NULL AND OLD.state <> NEW.state
     AND (NEW.state IN ('completed', 'dead', 'canceled') OR OLD.state IN ('completed', 'dead', 'canceled'))
BEGIN
    UPDATE batches SET
        completed = completed + (NEW.state = 'completed') - (OLD.state = 'completed'),
        dead = dead + (NEW.state = 'dead') - (OLD.state = 'dead'),
        canceled = canceled + (NEW.state = 'canceled') - (OLD.state = 'canceled')
    WHERE id = NEW.batch;
END;

CREATE TRIGGER jobs_batch_delete AFTER DELETE ON jobs
WHEN OLD.batch IS NOT NULL AND OLD.state NOT IN ('completed', 'dead', 'canceled')
BEGIN
    UPDATE batches SET canceled = canceled + 1 WHERE id = OLD.batch;
END;

-- The sealed batch's last job finished: its callbacks are inserted, once, in the same
-- transaction (on_success only when no job ended dead or canceled).
CREATE TRIGGER batches_finished AFTER UPDATE OF sealed, completed, dead, canceled ON batches
WHEN NEW.sealed AND NEW.finished_at = 0 AND NEW.completed + NEW.dead + NEW.canceled >= NEW.total
BEGIN
    UPDATE batches SET finished_at = CAST(unixepoch('subsec') * 1e9 AS INTEGER) WHERE id = NEW.id;
    INSERT OR IGNORE INTO jobs (id, queue, type, payload, state, ord, due, max_retries, timeout,
                                run_at, unique_for, result_ttl, enqueued_at, metadata, priority,
                                deadline, rate_key)
    SELECT value ->> 0, value ->> 1, value ->> 2, unhex(value ->> 3), 'pending',
           CAST(unixepoch('subsec') * 1e9 AS INTEGER), NULL, value ->> 7, value ->> 8, 0,
           value ->> 10, value ->> 11, value ->> 12, value ->> 13, value ->> 14, 0, value ->> 16
    FROM json_each(json_array(json(NEW.on_complete), json(NEW.on_success)))
    WHERE value IS NOT NULL AND (key = 0 OR NEW.dead + NEW.canceled = 0);
END;
