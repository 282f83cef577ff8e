-- The audit trail, append-only by privilege (docs/operations.md, "The audit trail on
-- PostgreSQL"). Run once as a superuser, after popsync's first start created the
-- tables, in popsync's database:
--
--   psql -v service=popsync -v owner=popsync_audit -d popsync -f postgres-audit-owner.sql
--
-- `service` is the role popsync logs in as (it owns every other table, so it can
-- migrate them); `owner` is a role nobody logs in as. Afterwards the service can add
-- to audit_log and read it, and nothing else: no UPDATE, DELETE or TRUNCATE, and no
-- ALTER to drop the trigger, since it no longer owns the table.

SELECT format('CREATE ROLE %I NOLOGIN', :'owner')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec

ALTER TABLE audit_log OWNER TO :"owner";
ALTER FUNCTION audit_log_append_only() OWNER TO :"owner";
REVOKE ALL ON audit_log FROM :"service";
REVOKE ALL ON audit_log FROM PUBLIC;
GRANT SELECT, INSERT ON audit_log TO :"service";
