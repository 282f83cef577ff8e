-- popsync store, SQLite flavour. Keep in step with ../postgres/0001_init.sql.

-- One row per stream (psb, mca.marriage, mca.cremation, nhc.birth, nhc.death, pis):
-- where the next pull starts. Written in the same transaction as the rows it covers.
CREATE TABLE feed_state (
    stream          TEXT PRIMARY KEY,
    cursor          TEXT,
    last_attempt_at TEXT,
    last_success_at TEXT,
    last_error      TEXT,
    last_error_at   TEXT,
    newest_record_at TEXT
);

CREATE TABLE psb_rows (
    lsh           TEXT PRIMARY KEY,
    ywlx          TEXT NOT NULL,
    id_number     TEXT NOT NULL,
    name          TEXT NOT NULL,
    sex           INTEGER NOT NULL,
    birth_date    TEXT NOT NULL,
    ethnicity     TEXT,
    household     TEXT,
    relation      TEXT,
    division      TEXT NOT NULL,
    from_county   TEXT,
    to_county     TEXT,
    father_id     TEXT,
    mother_id     TEXT,
    birth_cert_no TEXT,
    death_date    TEXT,
    event_date    TEXT NOT NULL,
    recorded_at   TEXT NOT NULL,
    raw           TEXT NOT NULL
);
CREATE INDEX psb_rows_id ON psb_rows (id_number);

CREATE TABLE mca_marriages (
    reg_no       TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    husband_name TEXT NOT NULL,
    husband_id   TEXT NOT NULL,
    wife_name    TEXT NOT NULL,
    wife_id      TEXT NOT NULL,
    reg_date     TEXT NOT NULL,
    office       TEXT NOT NULL,
    raw          TEXT NOT NULL
);

CREATE TABLE mca_cremations (
    cert_no        TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    sex            INTEGER NOT NULL,
    id_number      TEXT,
    death_date     TEXT NOT NULL,
    cremation_date TEXT NOT NULL,
    address        TEXT NOT NULL,
    funeral_home   TEXT NOT NULL,
    raw            TEXT NOT NULL
);

CREATE TABLE nhc_births (
    cert_no        TEXT NOT NULL,
    version        INTEGER NOT NULL,
    status         TEXT NOT NULL,
    child_name     TEXT,
    child_sex      INTEGER NOT NULL,
    birth_date     TEXT NOT NULL,
    mother_name    TEXT,
    mother_id      TEXT NOT NULL,
    father_name    TEXT,
    father_id      TEXT,
    facility       TEXT,
    residence_code TEXT,
    updated_at     TEXT NOT NULL,
    updated_date   TEXT NOT NULL,
    raw            TEXT NOT NULL,
    PRIMARY KEY (cert_no, version)
);

CREATE TABLE nhc_deaths (
    cert_no        TEXT NOT NULL,
    version        INTEGER NOT NULL,
    status         TEXT NOT NULL,
    name           TEXT,
    id_number      TEXT,
    sex            INTEGER NOT NULL,
    death_date     TEXT NOT NULL,
    residence_code TEXT,
    updated_at     TEXT NOT NULL,
    updated_date   TEXT NOT NULL,
    raw            TEXT NOT NULL,
    PRIMARY KEY (cert_no, version)
);

-- The newest version of each register record; ever_deleted remembers a delFlag 1.
CREATE TABLE pis_rows (
    person_id     TEXT PRIMARY KEY,
    sfzh          TEXT NOT NULL,
    id_norm       TEXT NOT NULL,
    name          TEXT NOT NULL,
    sex           INTEGER NOT NULL,
    birth_date    TEXT NOT NULL,
    village       TEXT NOT NULL,
    marital       TEXT,
    mother_id     TEXT,
    birth_cert_no TEXT,
    state         INTEGER NOT NULL,
    deleted       INTEGER NOT NULL,
    ever_deleted  INTEGER NOT NULL,
    modified_time TEXT NOT NULL,
    raw           TEXT NOT NULL
);

-- Malformed records, kept aside with the reason; record_key is the natural key when the
-- record has one, else a digest of its raw text, so a redelivery is recognised.
CREATE TABLE quarantine (
    feed          TEXT NOT NULL,
    stream        TEXT NOT NULL,
    record_key    TEXT NOT NULL,
    raw           TEXT NOT NULL,
    reason        TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    times_seen    INTEGER NOT NULL,
    PRIMARY KEY (feed, record_key)
);

-- The golden records: one per person, each field with its source (JSON).
CREATE TABLE persons (
    person_key TEXT PRIMARY KEY,
    id_number  TEXT,
    township   TEXT,
    state      TEXT NOT NULL,
    record     TEXT NOT NULL,
    digest     TEXT NOT NULL
);
CREATE INDEX persons_township ON persons (township);

-- Every source record and the person it denotes (or none, with the reason).
CREATE TABLE record_links (
    source     TEXT NOT NULL,
    record_key TEXT NOT NULL,
    person_key TEXT,
    reason     TEXT,
    PRIMARY KEY (source, record_key)
);
CREATE INDEX record_links_person ON record_links (person_key);

CREATE TABLE reconcile_runs (
    run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    as_of       TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    summary     TEXT NOT NULL
);

CREATE TABLE tickets (
    ticket_id      TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    township       TEXT NOT NULL,
    subject_key    TEXT NOT NULL,
    subject        TEXT NOT NULL,
    status         TEXT NOT NULL,
    opened_at      TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    evidence       TEXT NOT NULL,
    evidence_digest TEXT NOT NULL,
    summary_zh     TEXT NOT NULL,
    suggestion     TEXT,
    person_key     TEXT,
    village        TEXT,
    dismissed_digest TEXT,
    UNIQUE (kind, township, subject_key)
);
CREATE INDEX tickets_township ON tickets (township, status);

CREATE TABLE ticket_events (
    event_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id   TEXT NOT NULL,
    at          TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id);

CREATE TABLE api_tokens (
    token_id   TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    township   TEXT,
    is_admin   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Append-only: every read of a person's data and every ticket change.
CREATE TABLE audit_log (
    audit_id INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    township TEXT,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    result   TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
