-- Schema version 13: the cancellation of a failed parent's dependents is a loop in Go, not a
-- recursion of triggers.
--
-- Schema 11 canceled the waiting children of a job that ended dead or canceled (or was
-- deleted) in the trigger of its transition, which fired the trigger for the children in
-- turn: SQLite nests triggers at most 1000 deep, so failing the root of a longer chain failed
-- the whole statement ("triggers nested too deep"), and with it the outcome, cancel or delete
-- that ended the root. Now the trigger only records the children to cancel in cascade; after
-- every write operation the writer runs queries cascade-last, cascade-cancel and cascade-trim
-- until cascade is empty (writer.go, drainCascade), one generation per round, each canceled
-- child recording its own children in turn. Releases (a completed parent, or a child that runs
-- anyway) stay in the trigger: they nest two deep at most.
CREATE TABLE cascade (
    seq    INTEGER PRIMARY KEY,
    parent TEXT NOT NULL,
    child  TEXT NOT NULL,
    how    TEXT NOT NULL -- the parent's end: dead, canceled or deleted
);

DROP TRIGGER jobs_state_changed;
DROP TRIGGER jobs_deleted;

-- As schema_012's, but a failed parent's children go to cascade.
CREATE TRIGGER jobs_state_changed AFTER UPDATE OF state ON jobs
WHEN (OLD.state <> NEW.state AND NOT (OLD.state = 'pending' AND NEW.state = 'active')
      AND NOT (OLD.state = 'active' AND NEW.state = 'completed'))
  OR ((NEW.unique_key IS NOT NULL OR NEW.has_children OR NEW.batch IS NOT NULL)
      AND NEW.state IN ('completed', 'dead', 'canceled'))
  OR (NEW.batch IS NOT NULL AND OLD.state <> NEW.state AND OLD.state IN ('completed', 'dead', 'canceled'))
BEGIN
    -- counted
    UPDATE counts SET n = n - 1
    WHERE OLD.state <> NEW.state AND NOT (OLD.state = 'pending' AND NEW.state = 'active')
      AND NOT (OLD.state = 'active' AND NEW.state = 'completed')
      AND queue = OLD.queue AND state = CASE WHEN OLD.state = 'pending' AND OLD.priority <> 0
                                             THEN 'pending:' || OLD.priority ELSE OLD.state END;
    INSERT INTO counts (queue, state, n)
    SELECT NEW.queue, CASE WHEN NEW.state = 'pending' AND NEW.priority <> 0
                           THEN 'pending:' || NEW.priority ELSE NEW.state END, 1
    WHERE OLD.state <> NEW.state AND NOT (OLD.state = 'pending' AND NEW.state = 'active')
      AND NOT (OLD.state = 'active' AND NEW.state = 'completed')
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
    -- unique
    DELETE FROM uniques
    WHERE NEW.unique_key IS NOT NULL AND NEW.state IN ('completed', 'dead', 'canceled')
      AND queue = NEW.queue AND key = NEW.unique_key AND job_id = NEW.id;
    -- parent: completed (or any end, for a child that runs anyway) releases
    UPDATE jobs SET
        waits = waits - 1,
        state = CASE WHEN waits > 1 THEN 'waiting'
                     WHEN run_at > CAST(unixepoch('subsec') * 1e9 AS INTEGER) THEN 'scheduled'
                     ELSE 'pending' END,
        ord = CASE WHEN waits > 1 THEN ord
                   WHEN run_at > CAST(unixepoch('subsec') * 1e9 AS INTEGER) THEN run_at
                   ELSE CAST(unixepoch('subsec') * 1e9 AS INTEGER) END,
        due = CASE WHEN waits > 1 THEN NULL
                   WHEN run_at > CAST(unixepoch('subsec') * 1e9 AS INTEGER) THEN run_at
                   WHEN deadline > 0 THEN deadline END
    WHERE NEW.has_children AND NEW.state IN ('completed', 'dead', 'canceled')
      AND OLD.state NOT IN ('completed', 'dead', 'canceled')
      AND state = 'waiting' AND (NEW.state = 'completed' OR run_anyway)
      AND id IN (SELECT child FROM deps WHERE parent = NEW.id);
    -- parent: dead or canceled: the other children are canceled by the cascade (queries
    -- cascade-cancel), one generation per statement
    INSERT INTO cascade (parent, child, how)
    SELECT NEW.id, child, NEW.state FROM deps
    WHERE NEW.has_children AND NEW.state IN ('dead', 'canceled')
      AND OLD.state NOT IN ('completed', 'dead', 'canceled') AND parent = NEW.id;
    DELETE FROM deps
    WHERE NEW.has_children AND NEW.state IN ('completed', 'dead', 'canceled')
      AND OLD.state NOT IN ('completed', 'dead', 'canceled') AND parent = NEW.id;
    -- batch
    UPDATE batches SET
        completed = completed + (NEW.state = 'completed') - (OLD.state = 'completed'),
        dead = dead + (NEW.state = 'dead') - (OLD.state = 'dead'),
        canceled = canceled + (NEW.state = 'canceled') - (OLD.state = 'canceled')
    WHERE NEW.batch IS NOT NULL AND OLD.state <> NEW.state
      AND (NEW.state IN ('completed', 'dead', 'canceled') OR OLD.state IN ('completed', 'dead', 'canceled'))
      AND id = NEW.batch;
END;

-- As schema_012's, but a deleted parent's children go to cascade.
CREATE TRIGGER jobs_deleted AFTER DELETE ON jobs BEGIN
    UPDATE counts SET n = n - 1
    WHERE queue = OLD.queue AND state = CASE WHEN OLD.state = 'pending' AND OLD.priority <> 0
                                             THEN 'pending:' || OLD.priority ELSE OLD.state END;
    DELETE FROM uniques
    WHERE OLD.unique_key IS NOT NULL AND queue = OLD.queue AND key = OLD.unique_key AND job_id = OLD.id;
    UPDATE jobs SET
        waits = waits - 1,
        state = CASE WHEN waits > 1 THEN 'waiting'
                     WHEN run_at > CAST(unixepoch('subsec') * 1e9 AS INTEGER) THEN 'scheduled'
                     ELSE 'pending' END,
        ord = CASE WHEN waits > 1 THEN ord
                   WHEN run_at > CAST(unixepoch('subsec') * 1e9 AS INTEGER) THEN run_at
                   ELSE CAST(unixepoch('subsec') * 1e9 AS INTEGER) END,
        due = CASE WHEN waits > 1 THEN NULL
                   WHEN run_at > CAST(unixepoch('subsec') * 1e9 AS INTEGER) THEN run_at
                   WHEN deadline > 0 THEN deadline END
    WHERE OLD.has_children AND OLD.state NOT IN ('completed', 'dead', 'canceled')
      AND state = 'waiting' AND run_anyway AND id IN (SELECT child FROM deps WHERE parent = OLD.id);
    INSERT INTO cascade (parent, child, how)
    SELECT OLD.id, child, 'deleted' FROM deps
    WHERE OLD.has_children AND OLD.state NOT IN ('completed', 'dead', 'canceled') AND parent = OLD.id;
    DELETE FROM deps
    WHERE OLD.has_children AND OLD.state NOT IN ('completed', 'dead', 'canceled') AND parent = OLD.id;
    UPDATE batches SET canceled = canceled + 1
    WHERE OLD.batch IS NOT NULL AND OLD.state NOT IN ('completed', 'dead', 'canceled') AND id = OLD.batch;
END;
