-- Least-privilege PostgreSQL roles for dsop-bank (docs/operators.md "PostgreSQL roles").
--
-- Run it as a superuser (or a role with CREATEROLE that owns the schema), connected to the bank's
-- database with the schema dsop-bank uses first on the search_path (`public` unless you chose
-- another), once, BEFORE the first `dsop-bank migrate`: it creates the roles and lets the owner
-- create tables. `dsop-bank migrate`, run as dsop_owner, then grants dsop_app and dsop_import
-- what each needs on every table and function it creates, each time it runs (the table of grants
-- is internal/postgres/grants.sql), so a release that adds tables needs nothing more from you.
-- It is idempotent. It creates the roles without LOGIN: give them a way in afterwards, e.g.
--   ALTER ROLE dsop_app LOGIN PASSWORD '…';   (or certificate authentication in pg_hba.conf)
--
--   dsop_owner   owns the schema's tables: runs `dsop-bank migrate` and nothing else
--   dsop_import  runs `dsop-bank import`: loads a new generation of the bank data and switches to
--                it through the owner's functions dsop_bank_stage/index/switch/discard (it never
--                creates or renames a table itself), applies change sets, records the field policy
--   dsop_app     runs `dsop-bank serve`: reads the bank data, keeps notices, outbox and console
--                sessions, APPENDS to the audit log (never UPDATE, DELETE or TRUNCATE: the
--                append-only trigger and the grants both refuse them; expiry goes through
--                the SECURITY DEFINER function dsop_audit_expire)
-- The audit tools (`dsop-bank audit …`) need only what dsop_app has.

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dsop_owner') THEN CREATE ROLE dsop_owner NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dsop_import') THEN CREATE ROLE dsop_import NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dsop_app') THEN CREATE ROLE dsop_app NOLOGIN; END IF;
END
$roles$;

DO $schema$
DECLARE
    s text := current_schema();
BEGIN
    EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO dsop_owner', s);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO dsop_app, dsop_import', s);
END
$schema$;
