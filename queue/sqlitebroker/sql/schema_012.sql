-- Schema version 12: one trigger per statement kind on jobs instead of four.
--
-- A row trigger costs about 2,500 SQLite instructions each time it fires, even when its WHEN
-- is false (SQLite evaluates WHEN inside the trigger's sub-program, after setting up its
-- frame). Schemas 1, 9 and 11 left four AFTER UPDATE OF state triggers on jobs (counts,
-- unique keys, dependents, batch counts), so a plain job paid for eight empty fires on its
-- two hot transitions (take and finish): about 7 % of the embedded broker's work per job
-- (docs/BENCHMARKS.md, "process_c50 before issue 12 and now"). Each of the triggers below
-- does what its predecessors did, each statement guarded by its predecessor's WHEN, and the
-- trigger's own WHEN is their disjunction: a plain job's take and finish fire one trigger
-- each and run none of its statements.
DROP TRIGGER jobs_count_insert;
DROP TRIGGER jobs_batch_insert;
DROP TRIGGER jobs_count_update;
DROP TRIGGER jobs_unique_release_update;
DROP TRIGGER jobs_parent_ended;
DROP TRIGGER jobs_batch_update;
DROP TRIGGER jobs_count_delete;
DROP TRIGGER jobs_unique_release_delete;
DROP TRIGGER jobs_parent_deleted;
DROP TRIGGER jobs_batch_delete;

-- A job is inserted: it is counted (schema_009), and in its batch's total (schema_011).
CREATE TRIGGER jobs_inserted AFTER INSERT ON jobs BEGIN
    INSERT INTO counts (queue, state, n)
    VALUES (NEW.queue, CASE WHEN NEW.state = 'pending' AND NEW.priority <> 0
                            THEN 'pending:' || NEW.priority ELSE NEW.state END, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
    UPDATE batches SET total = total + 1, canceled = canceled + (NEW.state = 'canceled')
    WHERE NEW.batch IS NOT NULL AND id = NEW.batch;
END;

-- A job changes state. Its guards, in the order of the statements:
--   counted:  every change but take (pending -> active) and finish (active -> completed),
--             which their statements count once per batch (schema_009);
--   unique:   a job with a unique key reaches a final state: the key is released (schema_001);
--   parent:   a job with children ends: they are released or canceled (schema_011), which
--             fires this trigger for them in turn (recursive_triggers);
--   batch:    a job of a batch enters or leaves a final state (schema_011).
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
    -- parent: dead or canceled cancels the others
    UPDATE jobs SET
        state = 'canceled', waits = 0,
        finished_at = CAST(unixepoch('subsec') * 1e9 AS INTEGER),
        ord = CAST(unixepoch('subsec') * 1e9 AS INTEGER),
        due = CAST(unixepoch('subsec') * 1e9 AS INTEGER) + result_ttl,
        errors = json_insert(coalesce(errors, '[]'), '$[#]', json_object('attempt', 0,
            'error', 'parent job ' || NEW.id || ' is ' || NEW.state,
            'at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
    WHERE NEW.has_children AND NEW.state IN ('dead', 'canceled')
      AND OLD.state NOT IN ('completed', 'dead', 'canceled')
      AND state = 'waiting' AND NOT run_anyway
      AND id IN (SELECT child FROM deps WHERE parent = NEW.id);
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

-- A job is deleted: it leaves its count (schema_009) and releases its unique key
-- (schema_001); deleted before it ended, it cancels its waiting children (releases those that
-- run anyway) and counts as canceled in its batch (schema_011).
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
    UPDATE jobs SET
        state = 'canceled', waits = 0,
        finished_at = CAST(unixepoch('subsec') * 1e9 AS INTEGER),
        ord = CAST(unixepoch('subsec') * 1e9 AS INTEGER),
        due = CAST(unixepoch('subsec') * 1e9 AS INTEGER) + result_ttl,
        errors = json_insert(coalesce(errors, '[]'), '$[#]', json_object('attempt', 0,
            'error', 'parent job ' || OLD.id || ' is deleted',
            'at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
    WHERE OLD.has_children AND OLD.state NOT IN ('completed', 'dead', 'canceled')
      AND state = 'waiting' AND NOT run_anyway AND id IN (SELECT child FROM deps WHERE parent = OLD.id);
    DELETE FROM deps
    WHERE OLD.has_children AND OLD.state NOT IN ('completed', 'dead', 'canceled') AND parent = OLD.id;
    UPDATE batches SET canceled = canceled + 1
    WHERE OLD.batch IS NOT NULL AND OLD.state NOT IN ('completed', 'dead', 'canceled') AND id = OLD.batch;
END;
