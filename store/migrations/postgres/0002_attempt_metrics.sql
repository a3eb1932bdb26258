-- Metrics record every finished attempt, not only the last one: a failed attempt that the
-- queue runs again ('retried') and an attempt ended by a cancel ('canceled') get a row too.

ALTER TABLE workflow_metrics DROP CONSTRAINT workflow_metrics_status_check;

ALTER TABLE workflow_metrics ADD CONSTRAINT workflow_metrics_status_check
    CHECK (status IN ('completed', 'failed', 'retried', 'canceled'));
