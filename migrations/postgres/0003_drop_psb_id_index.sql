-- No query looks psb rows up by ID number; the index only slowed every insert.
DROP INDEX IF EXISTS psb_rows_id;
