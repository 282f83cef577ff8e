-- The last `popsync verify` of each feed: what the department served compared with
-- what was stored, for `status` and the metrics (a verify of one feed replaces its row).
CREATE TABLE verify_runs (
    feed        TEXT PRIMARY KEY,
    finished_at TEXT NOT NULL,
    repair      INTEGER NOT NULL,
    served      INTEGER NOT NULL,
    stored      INTEGER NOT NULL,
    missing     INTEGER NOT NULL,
    changed     INTEGER NOT NULL,
    extra       INTEGER NOT NULL,
    repaired    INTEGER NOT NULL
);
