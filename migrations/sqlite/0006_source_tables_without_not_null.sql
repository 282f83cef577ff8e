-- The source tables lose their NOT NULL constraints (the values come from Rust
-- fields that cannot be empty where the column used to say NOT NULL). In SQLite a
-- multi-row insert into a table with a constraint that can abort the statement keeps
-- a statement journal: a copy of every page the statement touches, taken before it
-- is changed, so the statement alone can be undone. That copying was a sixth of
-- SQLite's work in a first sync. The NOT NULL checks were the only such constraint
-- left: every insert names its conflict target (`ON CONFLICT ... DO NOTHING` or
-- `DO UPDATE`). PostgreSQL has no statement journal and keeps its schema.
CREATE TABLE psb_rows_new (
    lsh           TEXT PRIMARY KEY,
    ywlx          TEXT,
    id_number     TEXT,
    name          TEXT,
    sex           INTEGER,
    birth_date    TEXT,
    ethnicity     TEXT,
    household     TEXT,
    relation      TEXT,
    division      TEXT,
    from_county   TEXT,
    to_county     TEXT,
    father_id     TEXT,
    mother_id     TEXT,
    birth_cert_no TEXT,
    death_date    TEXT,
    event_date    TEXT,
    recorded_at   TEXT,
    raw           TEXT
);
INSERT INTO psb_rows_new SELECT lsh, ywlx, id_number, name, sex, birth_date, ethnicity, household,
    relation, division, from_county, to_county, father_id, mother_id, birth_cert_no, death_date,
    event_date, recorded_at, raw FROM psb_rows ORDER BY rowid;
DROP TABLE psb_rows;
ALTER TABLE psb_rows_new RENAME TO psb_rows;

CREATE TABLE mca_marriages_new (
    reg_no       TEXT PRIMARY KEY,
    kind         TEXT,
    husband_name TEXT,
    husband_id   TEXT,
    wife_name    TEXT,
    wife_id      TEXT,
    reg_date     TEXT,
    office       TEXT,
    raw          TEXT
);
INSERT INTO mca_marriages_new SELECT reg_no, kind, husband_name, husband_id, wife_name, wife_id,
    reg_date, office, raw FROM mca_marriages ORDER BY rowid;
DROP TABLE mca_marriages;
ALTER TABLE mca_marriages_new RENAME TO mca_marriages;

CREATE TABLE mca_cremations_new (
    cert_no        TEXT PRIMARY KEY,
    name           TEXT,
    sex            INTEGER,
    id_number      TEXT,
    death_date     TEXT,
    cremation_date TEXT,
    address        TEXT,
    funeral_home   TEXT,
    raw            TEXT
);
INSERT INTO mca_cremations_new SELECT cert_no, name, sex, id_number, death_date, cremation_date,
    address, funeral_home, raw FROM mca_cremations ORDER BY rowid;
DROP TABLE mca_cremations;
ALTER TABLE mca_cremations_new RENAME TO mca_cremations;

CREATE TABLE nhc_births_new (
    cert_no        TEXT,
    version        INTEGER,
    status         TEXT,
    child_name     TEXT,
    child_sex      INTEGER,
    birth_date     TEXT,
    mother_name    TEXT,
    mother_id      TEXT,
    father_name    TEXT,
    father_id      TEXT,
    facility       TEXT,
    residence_code TEXT,
    updated_at     TEXT,
    updated_date   TEXT,
    raw            TEXT,
    PRIMARY KEY (cert_no, version)
);
INSERT INTO nhc_births_new SELECT cert_no, version, status, child_name, child_sex, birth_date,
    mother_name, mother_id, father_name, father_id, facility, residence_code, updated_at,
    updated_date, raw FROM nhc_births ORDER BY rowid;
DROP TABLE nhc_births;
ALTER TABLE nhc_births_new RENAME TO nhc_births;

CREATE TABLE nhc_deaths_new (
    cert_no        TEXT,
    version        INTEGER,
    status         TEXT,
    name           TEXT,
    id_number      TEXT,
    sex            INTEGER,
    death_date     TEXT,
    residence_code TEXT,
    updated_at     TEXT,
    updated_date   TEXT,
    raw            TEXT,
    PRIMARY KEY (cert_no, version)
);
INSERT INTO nhc_deaths_new SELECT cert_no, version, status, name, id_number, sex, death_date,
    residence_code, updated_at, updated_date, raw FROM nhc_deaths ORDER BY rowid;
DROP TABLE nhc_deaths;
ALTER TABLE nhc_deaths_new RENAME TO nhc_deaths;

-- The newest version of each register record; ever_deleted remembers a delFlag 1.
CREATE TABLE pis_rows_new (
    person_id     TEXT PRIMARY KEY,
    sfzh          TEXT,
    id_norm       TEXT,
    name          TEXT,
    sex           INTEGER,
    birth_date    TEXT,
    village       TEXT,
    marital       TEXT,
    mother_id     TEXT,
    birth_cert_no TEXT,
    state         INTEGER,
    deleted       INTEGER,
    ever_deleted  INTEGER,
    modified_time TEXT,
    raw           TEXT
);
INSERT INTO pis_rows_new SELECT person_id, sfzh, id_norm, name, sex, birth_date, village, marital,
    mother_id, birth_cert_no, state, deleted, ever_deleted, modified_time, raw FROM pis_rows ORDER BY rowid;
DROP TABLE pis_rows;
ALTER TABLE pis_rows_new RENAME TO pis_rows;
