-- Metrics record every finished attempt, not only the last one: a failed attempt that the
-- queue runs again ('retried') and an attempt ended by a cancel ('canceled') get a row too.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt, keeping its rows
-- and ids.

CREATE TABLE workflow_metrics_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('completed', 'failed', 'retried', 'canceled')),
    duration_ns INTEGER NOT NULL CHECK (duration_ns >= 0),
    savings     REAL NOT NULL DEFAULT 0,
    recorded_at INTEGER NOT NULL
);

INSERT INTO workflow_metrics_new (id, workflow_id, attempt, status, duration_ns, savings, recorded_at)
SELECT id, workflow_id, attempt, status, duration_ns, savings, recorded_at FROM workflow_metrics;

DROP TABLE workflow_metrics;

ALTER TABLE workflow_metrics_new RENAME TO workflow_metrics;

CREATE INDEX workflow_metrics_workflow_idx ON workflow_metrics (workflow_id, id);
