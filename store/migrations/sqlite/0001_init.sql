-- Workflows, their finished steps, per-execution metrics and weekly reports.
-- A workflow row is also the enqueue outbox: status 'queued' with
-- enqueued_at NULL means "not handed to the queue yet".
-- Times are INTEGER microseconds since the Unix epoch (UTC).

CREATE TABLE workflows (
    id                 TEXT PRIMARY KEY NOT NULL,
    agent_id           TEXT NOT NULL,
    type               TEXT NOT NULL,
    mode               TEXT NOT NULL DEFAULT '',
    inputs             TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(inputs)),
    status             TEXT NOT NULL
                       CHECK (status IN ('queued', 'running', 'completed', 'failed', 'canceled')),
    current_step       INTEGER NOT NULL DEFAULT 0 CHECK (current_step >= 0),
    total_steps        INTEGER NOT NULL DEFAULT 0 CHECK (total_steps >= 0),
    attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error              TEXT NOT NULL DEFAULT '',
    job_id             TEXT NOT NULL DEFAULT '',
    weekly_hours_saved REAL NOT NULL DEFAULT 0,
    weekly_savings     REAL NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    enqueued_at        INTEGER,
    started_at         INTEGER,
    finished_at        INTEGER
);

CREATE INDEX workflows_created_idx ON workflows (created_at DESC, id DESC);
CREATE INDEX workflows_status_created_idx ON workflows (status, created_at DESC, id DESC);
CREATE INDEX workflows_agent_created_idx ON workflows (agent_id, created_at DESC, id DESC);
CREATE INDEX workflows_type_created_idx ON workflows (type, created_at DESC, id DESC);
CREATE INDEX workflows_outbox_idx ON workflows (created_at, id)
    WHERE status = 'queued' AND enqueued_at IS NULL;
CREATE INDEX workflows_finished_idx ON workflows (finished_at)
    WHERE finished_at IS NOT NULL;

CREATE TABLE workflow_steps (
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    step_index  INTEGER NOT NULL CHECK (step_index >= 0),
    name        TEXT NOT NULL DEFAULT '',
    attempt     INTEGER NOT NULL,
    output      TEXT CHECK (output IS NULL OR json_valid(output)),
    finished_at INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, step_index)
) WITHOUT ROWID;

CREATE TABLE workflow_metrics (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('completed', 'failed')),
    duration_ns INTEGER NOT NULL CHECK (duration_ns >= 0),
    savings     REAL NOT NULL DEFAULT 0,
    recorded_at INTEGER NOT NULL
);

CREATE INDEX workflow_metrics_workflow_idx ON workflow_metrics (workflow_id, id);

CREATE TABLE weekly_reports (
    week            TEXT PRIMARY KEY NOT NULL,
    period_start    INTEGER NOT NULL,
    period_end      INTEGER NOT NULL,
    total           INTEGER NOT NULL,
    completed       INTEGER NOT NULL,
    failed          INTEGER NOT NULL,
    canceled        INTEGER NOT NULL,
    completion_rate REAL NOT NULL,
    total_savings   REAL NOT NULL,
    avg_duration_ns INTEGER NOT NULL,
    generated_at    INTEGER NOT NULL
);

CREATE INDEX weekly_reports_period_idx ON weekly_reports (period_end DESC, generated_at DESC);
