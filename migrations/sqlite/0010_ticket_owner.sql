-- Issue 17: a ticket may be assigned to a named member of its township's staff
-- (包保责任人). NULL while nobody is; every assignment is also a ticket event.
ALTER TABLE tickets ADD COLUMN owner TEXT;
CREATE INDEX tickets_township_owner ON tickets (township, owner);
