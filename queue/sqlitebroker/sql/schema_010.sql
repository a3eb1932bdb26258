-- Schema version 10: the rest of a rate limiter's state (queue.RateState) beside its tat: the
-- starts of the current period and the most one of them came after its slot (nanoseconds), so
-- that a late worker's lateness is repaid once per period rather than lost at every start;
-- for a key, until when its state matters (Unix nanoseconds: the row may be dropped after).
ALTER TABLE queues ADD COLUMN tat_starts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queues ADD COLUMN tat_late INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rate_keys ADD COLUMN starts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rate_keys ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rate_keys ADD COLUMN until INTEGER NOT NULL DEFAULT 0;
UPDATE rate_keys SET until = tat;
