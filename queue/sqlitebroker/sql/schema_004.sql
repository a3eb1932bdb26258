-- Schema version 4: the recent history of the queues' totals (queue.HistoryStore), one row per
-- slot (its start, Unix nanoseconds), the last hour kept: workers record it, dashboards show it.
CREATE TABLE history (
    slot      INTEGER PRIMARY KEY,
    pending   INTEGER NOT NULL,
    active    INTEGER NOT NULL,
    scheduled INTEGER NOT NULL,
    retry     INTEGER NOT NULL,
    dead      INTEGER NOT NULL,
    processed INTEGER NOT NULL,
    failed    INTEGER NOT NULL
) WITHOUT ROWID;
