-- Schema version 5: a job's priority (queue.Job.Priority, higher first within its queue) and
-- deadline (queue.Job.Deadline, Unix nanoseconds, 0 for none). A pending job's due is its
-- deadline (NULL for none), so that housekeeping makes it dead when the deadline passes.
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN deadline INTEGER NOT NULL DEFAULT 0;
-- Fetch and List of pending jobs walk this index: highest priority first, then queue order.
CREATE INDEX jobs_pending ON jobs (queue, priority DESC, ord) WHERE state = 'pending';
