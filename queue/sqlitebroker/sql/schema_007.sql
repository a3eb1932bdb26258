-- Schema version 7: progress and lifecycle events (queue.EventStore).
--
-- jobs.progress is the JSON of the latest queue.Progress an attempt reported, NULL when none.
ALTER TABLE jobs ADD COLUMN progress TEXT;

-- Events, recorded by triggers in the transaction of the transition they report, only while a
-- subscriber of the job's queue (or of every queue: queue '') is alive. The triggers exist
-- only while someone subscribes (queries.sql: events-on-*, events-off-*), so that with nobody
-- subscribed a transition costs nothing more. seq
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
