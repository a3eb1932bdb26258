-- A client's Idempotency-Key for POST /api/chat: a retried request with the same key gets the
-- workflow the first one created instead of a second one. fingerprint is a hash of the
-- request, so that a key reused for a different request is refused. A key lives as long as
-- its workflow (the clean-up's deletion takes it too).

CREATE TABLE workflow_keys (
    key         TEXT PRIMARY KEY NOT NULL,
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE INDEX workflow_keys_workflow_idx ON workflow_keys (workflow_id);
