-- Workflows, their finished steps, per-execution metrics and weekly reports.
-- A workflow row is also the enqueue outbox: status 'queued' with
-- enqueued_at NULL means "not handed to the queue yet".

CREATE TABLE workflows (
    id                 TEXT PRIMARY KEY,
    agent_id           TEXT NOT NULL,
    type               TEXT NOT NULL,
    mode               TEXT NOT NULL DEFAULT '',
    inputs             JSONB NOT NULL DEFAULT '{}',
    status             TEXT NOT NULL
                       CHECK (status IN ('queued', 'running', 'completed', 'failed', 'canceled')),
    current_step       INTEGER NOT NULL DEFAULT 0 CHECK (current_step >= 0),
    total_steps        INTEGER NOT NULL DEFAULT 0 CHECK (total_steps >= 0),
    attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error              TEXT NOT NULL DEFAULT '',
    job_id             TEXT NOT NULL DEFAULT '',
    weekly_hours_saved DOUBLE PRECISION NOT NULL DEFAULT 0,
    weekly_savings     DOUBLE PRECISION NOT NULL DEFAULT 0,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    enqueued_at        TIMESTAMPTZ,
    started_at         TIMESTAMPTZ,
    finished_at        TIMESTAMPTZ
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
    output      JSONB,
    finished_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workflow_id, step_index)
);

CREATE TABLE workflow_metrics (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('completed', 'failed')),
    duration_ns BIGINT NOT NULL CHECK (duration_ns >= 0),
    savings     DOUBLE PRECISION NOT NULL DEFAULT 0,
    recorded_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX workflow_metrics_workflow_idx ON workflow_metrics (workflow_id, id);

CREATE TABLE weekly_reports (
    week            TEXT PRIMARY KEY,
    period_start    TIMESTAMPTZ NOT NULL,
    period_end      TIMESTAMPTZ NOT NULL,
    total           BIGINT NOT NULL,
    completed       BIGINT NOT NULL,
    failed          BIGINT NOT NULL,
    canceled        BIGINT NOT NULL,
    completion_rate DOUBLE PRECISION NOT NULL,
    total_savings   DOUBLE PRECISION NOT NULL,
    avg_duration_ns BIGINT NOT NULL,
    generated_at    TIMESTAMPTZ NOT NULL
);

CREATE INDEX weekly_reports_period_idx ON weekly_reports (period_end DESC, generated_at DESC);
