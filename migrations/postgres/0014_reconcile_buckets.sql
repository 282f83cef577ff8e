-- The buckets of the reconciliation run in progress (issue 16): the process leading the
-- run publishes them, workers of any popsync process on this database claim them one
-- at a time (PostgreSQL: a row lock; SQLite: `claimed`), and each finished bucket keeps
-- its outcome until the leader has summed them. `run` names the run, so that a bucket
-- of an earlier run is never taken for one of this.
CREATE TABLE reconcile_buckets (
    bucket   BIGINT PRIMARY KEY,
    run      TEXT NOT NULL,
    cases    TEXT NOT NULL,
    as_of    TEXT NOT NULL,
    settings TEXT NOT NULL,
    claimed  BIGINT NOT NULL DEFAULT 0,
    done     BIGINT NOT NULL DEFAULT 0,
    outcome  TEXT
);
