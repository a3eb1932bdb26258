-- Schema version 2: a job's metadata (queue.Job.Metadata), a JSON object, NULL when empty.
ALTER TABLE jobs ADD COLUMN metadata TEXT;
