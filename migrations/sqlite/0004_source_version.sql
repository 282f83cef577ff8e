-- Moves on with every commit that stores a new or changed source record. A
-- reconciliation whose inputs (this version, the as-of date, the parameters) are those
-- of the last run has nothing to recompute: the tickets are already current.
CREATE TABLE source_version (
    id      BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO source_version (id, version) VALUES (1, 0);
