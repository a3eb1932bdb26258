-- Schema version 9: counts kept for less (docs/BENCHMARKS.md, "process_c50 of the embedded
-- broker, profiled"). A trigger costs about as much to run as a statement, and every job ran
-- the count triggers at each of its transitions, plus schema_006's four per-priority triggers.
--
-- 1. Every job is counted in exactly one counts row: a pending job of the default priority 0
--    in 'pending', a pending job of another priority in 'pending:<priority>' (schema_006
--    counted every pending job in 'pending' and those of other priorities once more in
--    'pending:<priority>'). A queue's pending jobs are the sum of its pending rows. This
--    needs no trigger of its own.
-- 2. The two transitions that every job makes, pending to active (queries take and take-rows,
--    nothing else makes a job active) and active to completed (query finish, nothing else
--    completes a job), are left out of the triggers: those statements add their moves to
--    the counts themselves, once per batch (query add-count, counts.go). Every other
--    transition is counted by the triggers below, in the same transaction.
-- Unique keys are still released by schema_001's triggers.
DROP TRIGGER jobs_count_insert;
DROP TRIGGER jobs_count_delete;
DROP TRIGGER jobs_count_update;
DROP TRIGGER jobs_priority_count_insert;
DROP TRIGGER jobs_priority_count_delete;
DROP TRIGGER jobs_priority_count_leave;
DROP TRIGGER jobs_priority_count_enter;

UPDATE counts SET n = n - coalesce((SELECT sum(p.n) FROM counts AS p
                                    WHERE p.queue = counts.queue AND p.state LIKE 'pending:%'), 0)
WHERE state = 'pending';

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO counts (queue, state, n)
    VALUES (NEW.queue, CASE WHEN NEW.state = 'pending' AND NEW.priority <> 0
                            THEN 'pending:' || NEW.priority ELSE NEW.state END, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE counts SET n = n - 1
    WHERE queue = OLD.queue AND state = CASE WHEN OLD.state = 'pending' AND OLD.priority <> 0
                                             THEN 'pending:' || OLD.priority ELSE OLD.state END;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF state ON jobs
WHEN OLD.state <> NEW.state AND NOT (OLD.state = 'pending' AND NEW.state = 'active')
 AND NOT (OLD.state = 'active' AND NEW.state = 'completed') BEGIN
    UPDATE counts SET n = n - 1
    WHERE queue = OLD.queue AND state = CASE WHEN OLD.state = 'pending' AND OLD.priority <> 0
                                             THEN 'pending:' || OLD.priority ELSE OLD.state END;
    INSERT INTO counts (queue, state, n)
    VALUES (NEW.queue, CASE WHEN NEW.state = 'pending' AND NEW.priority <> 0
                            THEN 'pending:' || NEW.priority ELSE NEW.state END, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;
