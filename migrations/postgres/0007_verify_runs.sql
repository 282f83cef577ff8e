-- The last `popsync verify` of each feed: what the department served compared with
-- what was stored, for `status` and the metrics (a verify of one feed replaces its row).
CREATE TABLE verify_runs (
    feed        TEXT PRIMARY KEY,
    finished_at TEXT NOT NULL,
    repair      BIGINT NOT NULL,
    served      BIGINT NOT NULL,
    stored      BIGINT NOT NULL,
    missing     BIGINT NOT NULL,
    changed     BIGINT NOT NULL,
    extra       BIGINT NOT NULL,
    repaired    BIGINT NOT NULL
);
