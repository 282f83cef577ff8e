-- Incremental reconciliation (docs/decisions.md, "Incremental reconciliation"): every
-- source record belongs to a case, the records any rule may read together, and a run
-- recomputes only the cases a change or the passing of time can affect.

-- What the cases' outcomes were last computed under: the as-of date and the settings
-- (popsync version, grace periods, counties). No row, other settings, or an earlier
-- date: the next run recomputes every case.
CREATE TABLE case_state (
    id       BIGINT PRIMARY KEY CHECK (id = 1),
    settings TEXT NOT NULL,
    as_of    TEXT NOT NULL
);

-- Records stored since a run last placed them in cases (new ones, and pis records
-- changed in place), written with the records in the transaction that stores them
-- (`Store::write_batches`, the one write of source records: a sync's and a repair's).
-- A record re-delivered unchanged is not logged again. A run places the logged
-- records and deletes exactly the rows it read. Before any run has begun to build
-- the cases (no `case_state` row) nothing is logged: the first run reads every record
-- anyway, and a first sync writes no second copy of its keys.
CREATE TABLE unplaced (
    seq        INTEGER PRIMARY KEY,
    tbl        INTEGER NOT NULL,
    record_key TEXT NOT NULL
);

-- Each case's records, clustered by case: a run reads a case's records through it.
-- `tbl` names the table (0 psb, 1 marriages, 2 cremations, 3 birth and 4 death
-- certificates by number, every version, 5 pis).
CREATE TABLE case_records (
    case_id    BIGINT NOT NULL,
    tbl        INTEGER NOT NULL,
    record_key TEXT NOT NULL,
    PRIMARY KEY (case_id, tbl, record_key)
) WITHOUT ROWID;

-- Every key a placed record carries (a 64-bit hash, reconcile/cases.rs) and its case.
-- A case merged into another is not relabelled here: `case_merges` says where it went.
CREATE TABLE case_keys (
    case_key BIGINT PRIMARY KEY,
    case_id  BIGINT NOT NULL
) WITHOUT ROWID;
CREATE TABLE case_merges (
    case_id   BIGINT PRIMARY KEY,
    into_case BIGINT NOT NULL
);
-- Per case, the first day after the last run's as-of date on which time alone can
-- change what the rules say of it; a case a record joined is due at once.
CREATE TABLE case_dates (
    case_id   BIGINT PRIMARY KEY,
    next_date TEXT NOT NULL
);
CREATE INDEX case_dates_next ON case_dates (next_date);

-- What a run derived from a case carries the case, so that a run rewrites only what
-- its cases derived.
ALTER TABLE tickets ADD COLUMN case_id BIGINT;
ALTER TABLE persons ADD COLUMN case_id BIGINT;
ALTER TABLE unlinked_records ADD COLUMN case_id BIGINT;
CREATE INDEX tickets_case ON tickets (case_id);
CREATE INDEX persons_case ON persons (case_id);
CREATE INDEX unlinked_records_case ON unlinked_records (case_id);

-- The whole-registry digest lets a whole write skip reading the registry; golden records
-- written before this release carry no case, so the next write compares them all.
DELETE FROM registry_state;
