-- Schema version 1 of the embedded broker.
--
-- Times are Unix nanoseconds (0 when unset); durations are nanoseconds.
--
-- jobs.ord is a job's position within its (queue, state), the order Fetch and List follow:
--   pending              when it became pending (enqueue time, run-at, or recovery time);
--                        Requeue puts a job in front of the others (smaller ord)
--   scheduled, retry     run-at
--   active               unchanged from pending (the lease lives in due)
--   completed, canceled, dead
--                        finished-at
-- jobs.due is when Fetch's housekeeping must act on the job, NULL when never:
--   scheduled, retry     run-at: becomes pending
--   active               lease deadline: recovered (pending, dead or canceled)
--   completed, canceled  finished-at + result TTL: deleted

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    queue            TEXT NOT NULL,
    type             TEXT NOT NULL,
    payload          BLOB,
    state            TEXT NOT NULL,
    ord              INTEGER NOT NULL,
    due              INTEGER,
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_retries      INTEGER NOT NULL DEFAULT 0,
    timeout          INTEGER NOT NULL DEFAULT 0,
    run_at           INTEGER NOT NULL DEFAULT 0,
    unique_key       TEXT,
    unique_for       INTEGER NOT NULL DEFAULT 0,
    result_ttl       INTEGER NOT NULL DEFAULT 0,
    result           BLOB,
    errors           TEXT,
    enqueued_at      INTEGER NOT NULL DEFAULT 0,
    started_at       INTEGER NOT NULL DEFAULT 0,
    finished_at      INTEGER NOT NULL DEFAULT 0,
    worker_id        TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0
);

-- Fetch, List, DeleteAll, RetryAll and the dead-letter cap walk this index.
CREATE INDEX jobs_by_position ON jobs (queue, state, ord);
-- Housekeeping (promotion, lease recovery, result expiry) walks this one.
CREATE INDEX jobs_by_due ON jobs (due) WHERE due IS NOT NULL;

-- One row per queue that has had a job (or was paused): its pause flag and counters.
CREATE TABLE queues (
    name      TEXT PRIMARY KEY,
    paused    INTEGER NOT NULL DEFAULT 0,
    processed INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Number of jobs per (queue, state), kept exact by the triggers below.
CREATE TABLE counts (
    queue TEXT NOT NULL,
    state TEXT NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (queue, state)
) WITHOUT ROWID;

-- Unique keys held by live jobs, per queue, until expires_at (or until the job finishes).
CREATE TABLE uniques (
    queue      TEXT NOT NULL,
    key        TEXT NOT NULL,
    job_id     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (queue, key)
) WITHOUT ROWID;

-- Live workers: info is the JSON of queue.WorkerInfo.
CREATE TABLE workers (
    id         TEXT PRIMARY KEY,
    info       TEXT NOT NULL,
    heartbeat  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF state ON jobs WHEN OLD.state <> NEW.state BEGIN
    UPDATE counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
    INSERT INTO counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

-- A unique key is released early when its job reaches a final state or is deleted.
CREATE TRIGGER jobs_unique_release_update AFTER UPDATE OF state ON jobs
WHEN NEW.unique_key IS NOT NULL AND NEW.state IN ('completed', 'dead', 'canceled') BEGIN
    DELETE FROM uniques WHERE queue = NEW.queue AND key = NEW.unique_key AND job_id = NEW.id;
END;

CREATE TRIGGER jobs_unique_release_delete AFTER DELETE ON jobs
WHEN OLD.unique_key IS NOT NULL BEGIN
    DELETE FROM uniques WHERE queue = OLD.queue AND key = OLD.unique_key AND job_id = OLD.id;
END;
