-- Schema version 7: progress and lifecycle events (queue.EventStore).
--
-- jobs.progress is the JSON of the latest queue.Progress an attempt reported, NULL when none.
ALTER TABLE jobs ADD COLUMN progress TEXT;

-- Events, recorded by the triggers below in the transaction of the transition they report,
-- only while a subscriber of the job's queue (or of every queue: queue '') is alive. seq
-- never goes back (AUTOINCREMENT), so a subscriber reads what follows the last seq it saw.
-- at is Unix milliseconds; error is the failed attempt's error (failed, dead).
CREATE TABLE events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind     TEXT NOT NULL,
    job_id   TEXT NOT NULL,
    queue    TEXT NOT NULL,
    type     TEXT NOT NULL,
    state    TEXT NOT NULL,
    attempt  INTEGER NOT NULL,
    error    TEXT,
    progress TEXT,
    at       INTEGER NOT NULL
);

-- Live subscriptions, one row per subscription and queue ('' for every queue), kept alive by
-- their subscriber (expires_at, Unix seconds).
CREATE TABLE event_subscribers (
    id         TEXT NOT NULL,
    queue      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (queue, id)
) WITHOUT ROWID;

CREATE TRIGGER jobs_event_insert AFTER INSERT ON jobs
WHEN EXISTS (SELECT 1 FROM event_subscribers WHERE queue IN (NEW.queue, '') AND expires_at > unixepoch())
BEGIN
    INSERT INTO events (kind, job_id, queue, type, state, attempt, at)
    VALUES ('enqueued', NEW.id, NEW.queue, NEW.type, NEW.state, NEW.attempt, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;

-- The kind of a transition follows from the states before and after (see queue.EventKind):
-- a promotion of a due scheduled or retry job to pending reports nothing.
CREATE TRIGGER jobs_event_update AFTER UPDATE OF state, progress ON jobs
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

-- The backlog: every thousandth event drops those more than 10000 behind it.
CREATE TRIGGER events_trim AFTER INSERT ON events WHEN NEW.seq % 1000 = 0 BEGIN
    DELETE FROM events WHERE seq <= NEW.seq - 10000;
END;
