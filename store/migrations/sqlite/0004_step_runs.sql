-- The steps of a graph workflow (a type whose steps name the steps they need) that were
-- released (every step they need finished) and have not finished yet: one row per step,
-- written by the transaction that released it, so that the store says which steps must run
-- even when the process that released them died before enqueuing their jobs. A finished
-- step leaves this table for workflow_steps in the same transaction.

CREATE TABLE workflow_step_runs (
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    step_index  INTEGER NOT NULL CHECK (step_index >= 0),
    name        TEXT NOT NULL DEFAULT '',
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    state       TEXT NOT NULL CHECK (state IN ('ready', 'running', 'failed')),
    tries       INTEGER NOT NULL DEFAULT 0 CHECK (tries >= 0),
    error       TEXT NOT NULL DEFAULT '',
    released_at INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, step_index)
) WITHOUT ROWID;
