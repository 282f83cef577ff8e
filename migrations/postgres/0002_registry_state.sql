-- One digest of the whole registry as last written: a reconciliation whose registry
-- is unchanged writes and reads nothing more.
CREATE TABLE registry_state (
    id     BIGINT PRIMARY KEY,
    digest TEXT NOT NULL
);
