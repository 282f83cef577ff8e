-- The last `popsync reconcile --full`: whether a recompute of the whole city equalled
-- the stored tickets and registry, for `status` and the metrics (one row, replaced by
-- each check; the log keeps the history).
CREATE TABLE full_checks (
    id            BIGINT PRIMARY KEY CHECK (id = 1),
    checked_at    TEXT NOT NULL,
    as_of         TEXT NOT NULL,
    run_id        BIGINT NOT NULL,
    equal         BIGINT NOT NULL,
    ticket_differences   BIGINT NOT NULL,
    registry_differences BIGINT NOT NULL,
    summary       TEXT NOT NULL
);
