-- Issue 17: each township's open tickets as they stood after the last reconciliation
-- run of each as-of date, for the burn-down towards the provincial inspection. A run
-- replaces the row of its township and as-of date, so the table grows by one row per
-- township per day however often the daemon reconciles. Counts only: no one's data.
CREATE TABLE open_history (
    township     TEXT NOT NULL,
    as_of        TEXT NOT NULL,
    run_id       BIGINT NOT NULL,
    finished_at  TEXT NOT NULL,
    open_count   BIGINT NOT NULL,
    -- {"KIND": n, …}, kinds with none left out.
    open_by_kind TEXT NOT NULL,
    PRIMARY KEY (township, as_of)
);
