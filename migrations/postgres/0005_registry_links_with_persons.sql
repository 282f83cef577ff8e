-- Each golden record now carries the source records that denote it, in one compact
-- JSON text; only records that denote nobody keep a row of their own. A first
-- reconciliation of a million people wrote 2.5 million link rows and rebuilt two
-- indexes, one of which (persons by township) no query used. The registry is derived
-- data: it is emptied here and the next `popsync reconcile` writes it whole (moving
-- the source version on makes that run compute, even with no new records).
DROP TABLE record_links;
DROP TABLE persons;
DELETE FROM registry_state;
UPDATE source_version SET version = version + 1 WHERE id = 1;
CREATE TABLE persons (
    person_key TEXT PRIMARY KEY,
    township   TEXT,
    state      TEXT NOT NULL,
    record     TEXT NOT NULL,
    digest     TEXT NOT NULL
);
CREATE TABLE unlinked_records (
    source     TEXT NOT NULL,
    record_key TEXT NOT NULL,
    reason     TEXT NOT NULL,
    PRIMARY KEY (source, record_key)
);
