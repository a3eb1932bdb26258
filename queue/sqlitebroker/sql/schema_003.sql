-- Schema version 3: when Retry or RetryAll last sent a job back to pending (queue.Job.RetriedAt),
-- Unix nanoseconds, 0 when never.
ALTER TABLE jobs ADD COLUMN retried_at INTEGER NOT NULL DEFAULT 0;
