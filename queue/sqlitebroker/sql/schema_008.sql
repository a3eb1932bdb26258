-- Schema version 8: rate and concurrency limits (queue.QueueLimits).
-- jobs.rate_key is the job's key for its queue's key limits (queue.Job.RateKey), NULL when none.
ALTER TABLE jobs ADD COLUMN rate_key TEXT;
-- queues.limits is the JSON of the queue's queue.QueueLimits, NULL when it has none; queues.tat
-- the queue's rate limiter state (theoretical arrival time, Unix nanoseconds; see queue.Limit.Admit).
ALTER TABLE queues ADD COLUMN limits TEXT;
ALTER TABLE queues ADD COLUMN tat INTEGER NOT NULL DEFAULT 0;
-- The rate limiter state of each key of a limited queue, while it matters (tat in the future).
CREATE TABLE rate_keys (
    queue TEXT NOT NULL,
    key   TEXT NOT NULL,
    tat   INTEGER NOT NULL,
    PRIMARY KEY (queue, key)
) WITHOUT ROWID;
