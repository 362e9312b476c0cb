-- The least-privilege roles' grants on dsop-bank's tables and functions (deploy/postgres/roles.sql
-- creates the roles). `dsop-bank migrate` runs this after the migrations, as the tables' owner,
-- when the roles exist: a table a release adds is granted in the same run that creates it.
-- Idempotent. Table by table, so that the serving role can only append to the audit log.
DO $grants$
DECLARE
    s text := current_schema();
    -- table → grants of the serving role and of the import role ('' = none)
    t record;
BEGIN
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
