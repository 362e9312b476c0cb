-- Least-privilege PostgreSQL roles for dsop-bank (docs/operators.md "PostgreSQL roles").
--
-- Run it as a superuser (or a role with CREATEROLE that owns the schema), connected to the bank's
-- database with the schema dsop-bank uses first on the search_path (`public` unless you chose
-- another): once BEFORE the first `dsop-bank migrate` (it creates the roles and lets the owner
-- create tables), and again AFTER every `dsop-bank migrate` (it grants on the tables that exist).
-- It is idempotent. It creates the roles without LOGIN: give them a way in afterwards, e.g.
--   ALTER ROLE dsop_app LOGIN PASSWORD '…';   (or certificate authentication in pg_hba.conf)
--
--   dsop_owner   owns the schema's tables: runs `dsop-bank migrate` and nothing else
--   dsop_import  runs `dsop-bank import`: loads a new generation of the bank data and switches to
--                it through the owner's functions dsop_bank_stage/index/switch/discard (it never
--                creates or renames a table itself), applies change sets, records the field policy
--   dsop_app     runs `dsop-bank serve`: reads the bank data, keeps notices, outbox and console
--                sessions, APPENDS to the audit log (never UPDATE, DELETE or TRUNCATE: the
--                append-only trigger and the grants below both refuse them; expiry goes through
--                the SECURITY DEFINER function dsop_audit_expire)
-- The audit tools (`dsop-bank audit …`) need only what dsop_app has.

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dsop_owner') THEN CREATE ROLE dsop_owner NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dsop_import') THEN CREATE ROLE dsop_import NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dsop_app') THEN CREATE ROLE dsop_app NOLOGIN; END IF;
END
$roles$;

DO $grants$
DECLARE
    s text := current_schema();
    -- table → grants of the serving role and of the import role ('' = none)
    t record;
BEGIN
    EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO dsop_owner', s);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO dsop_app, dsop_import', s);
    FOR t IN SELECT * FROM (VALUES
        -- table                 dsop_app                          dsop_import
        ('schema_migrations',   'SELECT',                         'SELECT'),
        ('dsop_settings',       'SELECT, INSERT',                 'SELECT, INSERT, UPDATE'),
        ('bank_servicer',       'SELECT',                         'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
        ('parties',             'SELECT',                         'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
        ('accounts',            'SELECT',                         'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
        ('account_roles',       'SELECT',                         'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
        ('transactions',        'SELECT',                         'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
        ('bank_generation',     'SELECT',                         'SELECT, INSERT, UPDATE'),
        ('bank_data_changes',   'SELECT',                         'SELECT, INSERT'),
        ('notices',             'SELECT, INSERT, UPDATE, DELETE', 'SELECT'),
        ('notice_parties',      'SELECT, INSERT, UPDATE, DELETE', 'SELECT'),
        ('konkursvarsel_cursor','SELECT, INSERT, UPDATE, DELETE', ''),
        ('outbox_actions',      'SELECT, INSERT, UPDATE, DELETE', ''),
        ('audit_records',       'SELECT, INSERT',                 ''),
        ('audit_checkpoint',    'SELECT',                         ''),
        ('console_sessions',    'SELECT, INSERT, UPDATE, DELETE', ''),
        ('console_logins',      'SELECT, INSERT, UPDATE, DELETE', '')
    ) AS g(tbl, app, imp)
    LOOP
        CONTINUE WHEN to_regclass(format('%I.%I', s, t.tbl)) IS NULL; -- not migrated yet
        EXECUTE format('GRANT %s ON %I.%I TO dsop_app', t.app, s, t.tbl);
        IF t.imp <> '' THEN
            EXECUTE format('GRANT %s ON %I.%I TO dsop_import', t.imp, s, t.tbl);
        END IF;
    END LOOP;
    IF to_regclass(format('%I.%I', s, 'outbox_actions_seq_seq')) IS NOT NULL THEN
        EXECUTE format('GRANT USAGE ON SEQUENCE %I.outbox_actions_seq_seq TO dsop_app', s);
    END IF;
    IF EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = s AND p.proname = 'dsop_bank_switch') THEN
        EXECUTE format('GRANT EXECUTE ON FUNCTION %1$I.dsop_bank_stage(), %1$I.dsop_bank_index(), %1$I.dsop_bank_switch(), %1$I.dsop_bank_discard() TO dsop_import', s);
    END IF;
    IF EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = s AND p.proname = 'dsop_audit_expire') THEN
        EXECUTE format('GRANT EXECUTE ON FUNCTION %I.dsop_audit_expire(bigint, text) TO dsop_app', s);
    END IF;
END
$grants$;
