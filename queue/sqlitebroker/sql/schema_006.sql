-- Schema version 6: the number of pending jobs of each priority other than 0, per queue, in
-- counts rows whose state is 'pending:<priority>' (queue.QueueStats.PendingByPriority; the
-- default priority's count is the rest of the pending jobs). Kept by these triggers, which
-- a job of the default priority skips at their WHEN.
CREATE TRIGGER jobs_priority_count_insert AFTER INSERT ON jobs
WHEN NEW.state = 'pending' AND NEW.priority <> 0 BEGIN
    INSERT INTO counts (queue, state, n) VALUES (NEW.queue, 'pending:' || NEW.priority, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_priority_count_delete AFTER DELETE ON jobs
WHEN OLD.state = 'pending' AND OLD.priority <> 0 BEGIN
    UPDATE counts SET n = n - 1 WHERE queue = OLD.queue AND state = 'pending:' || OLD.priority;
END;

CREATE TRIGGER jobs_priority_count_leave AFTER UPDATE OF state ON jobs
WHEN OLD.state = 'pending' AND NEW.state <> 'pending' AND OLD.priority <> 0 BEGIN
    UPDATE counts SET n = n - 1 WHERE queue = OLD.queue AND state = 'pending:' || OLD.priority;
END;

CREATE TRIGGER jobs_priority_count_enter AFTER UPDATE OF state ON jobs
WHEN NEW.state = 'pending' AND OLD.state <> 'pending' AND NEW.priority <> 0 BEGIN
    INSERT INTO counts (queue, state, n) VALUES (NEW.queue, 'pending:' || NEW.priority, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;
