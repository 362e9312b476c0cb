-- Bank data generations (issue #28). `dsop-bank import` used to TRUNCATE and COPY in one
-- transaction: every request waited behind it (595 s at 17 M transactions). Now an import loads
-- a new generation into <table>_stage tables nobody reads, builds their indexes, and switches in
-- one short transaction that renames the stage tables into place. Requests in flight finish on the
-- old tables (they hold them until they end; the drop of the old generation waits for them); a
-- crash at any point before the switch's commit leaves the old generation serving and nothing of
-- the new one visible, and the next import drops what was left.
--
-- The functions run as the owner of the schema (SECURITY DEFINER), so the import role needs no
-- right to create or rename tables (deploy/postgres/roles.sql grants it EXECUTE), and every
-- generation stays owned by the owner, which later migrations alter. search_path is the one the
-- migration ran with, so the functions find the bank tables wherever the bank put them.

-- The bank data tables, in the order they are switched.
CREATE OR REPLACE FUNCTION dsop_bank_tables() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['bank_servicer', 'parties', 'accounts', 'account_roles', 'transactions'] $$;

-- dsop_bank_discard drops a stage left by an import that did not finish, and the generation the
-- last switch retired (waiting for the requests that still read it).
CREATE OR REPLACE FUNCTION dsop_bank_discard() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY dsop_bank_tables() LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I, %I CASCADE', t || '_stage', t || '_retired');
    END LOOP;
END
$$;

-- dsop_bank_stage makes an empty <table>_stage beside each bank table: the same columns,
-- defaults, checks and grants, and no index yet (loading first and indexing after is several
-- times faster).
CREATE OR REPLACE FUNCTION dsop_bank_stage() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    t text;
    g record;
BEGIN
    PERFORM dsop_bank_discard();
    FOREACH t IN ARRAY dsop_bank_tables() LOOP
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)', t || '_stage', t);
        FOR g IN
            SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS grantee, a.privilege_type
            FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
            WHERE c.oid = t::regclass AND a.grantee <> c.relowner
        LOOP
            EXECUTE format('GRANT %s ON %I TO %s', g.privilege_type, t || '_stage', g.grantee);
        END LOOP;
    END LOOP;
END
$$;

-- dsop_bank_index gives each <table>_stage the indexes, keys and foreign keys of its bank table,
-- each named <name>_stage until the switch, and its statistics.
CREATE OR REPLACE FUNCTION dsop_bank_index() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    t text;
    r record;
BEGIN
    FOREACH t IN ARRAY dsop_bank_tables() LOOP
        FOR r IN
            SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def, con.contype
            FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
            LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u')
            WHERE i.indrelid = t::regclass
            ORDER BY ic.relname
        LOOP
            EXECUTE regexp_replace(r.def, '^(CREATE (UNIQUE )?INDEX )\S+ ON \S+ ',
                '\1' || quote_ident(r.name || '_stage') || ' ON ' || quote_ident(t || '_stage') || ' ');
            IF r.contype = 'p' THEN
                EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY USING INDEX %I', t || '_stage', r.name || '_stage', r.name || '_stage');
            ELSIF r.contype = 'u' THEN
                EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I UNIQUE USING INDEX %I', t || '_stage', r.name || '_stage', r.name || '_stage');
            END IF;
        END LOOP;
    END LOOP;
    FOREACH t IN ARRAY dsop_bank_tables() LOOP
        FOR r IN SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = t::regclass AND contype = 'f' ORDER BY conname LOOP
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s', t || '_stage', r.conname || '_stage',
                regexp_replace(r.def, 'REFERENCES (\w+)\(', 'REFERENCES \1_stage('));
        END LOOP;
    END LOOP;
    -- Statistics before the switch: the planner must know the new generation from its first
    -- request, not after autovacuum gets round to it.
    FOREACH t IN ARRAY dsop_bank_tables() LOOP
        EXECUTE format('ANALYZE %I', t || '_stage');
    END LOOP;
END
$$;

-- dsop_bank_rename_keys renames the indexes (keys included) and foreign keys of table tbl from
-- <name><from_suffix> to <name><to_suffix>: index names are unique in a schema, so the serving
-- generation's move aside before the staged one's take them.
CREATE OR REPLACE FUNCTION dsop_bank_rename_keys(tbl text, from_suffix text, to_suffix text) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE r record;
BEGIN
    FOR r IN SELECT ic.relname AS name FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = tbl::regclass LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.name, regexp_replace(r.name, from_suffix || '$', '') || to_suffix);
    END LOOP;
    FOR r IN SELECT conname FROM pg_constraint WHERE conrelid = tbl::regclass AND contype = 'f' LOOP
        EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I', tbl, r.conname, regexp_replace(r.conname, from_suffix || '$', '') || to_suffix);
    END LOOP;
END
$$;

-- dsop_bank_switch puts the staged generation in place of the serving one, in the caller's
-- transaction (which sets a short lock_timeout and tries again: the renames wait for requests in
-- flight, and requests arriving meanwhile wait for the renames). The serving tables become
-- <table>_retired, with their indexes and constraints; dsop_bank_discard drops them afterwards.
CREATE OR REPLACE FUNCTION dsop_bank_switch() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY dsop_bank_tables() LOOP
        IF to_regclass(t || '_stage') IS NULL THEN
            RAISE EXCEPTION 'no staged generation of % to switch to', t;
        END IF;
    END LOOP;
    -- Every lock first, in one order, so that the renames cannot deadlock with one another.
    EXECUTE (SELECT 'LOCK TABLE ' || string_agg(quote_ident(x), ', ') || ' IN ACCESS EXCLUSIVE MODE' FROM unnest(dsop_bank_tables()) x);
    FOREACH t IN ARRAY dsop_bank_tables() LOOP
        PERFORM dsop_bank_rename_keys(t, '', '_retired');
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_retired');
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t || '_stage', t);
        PERFORM dsop_bank_rename_keys(t, '_stage', '');
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION dsop_bank_discard(), dsop_bank_stage(), dsop_bank_index(), dsop_bank_switch(), dsop_bank_rename_keys(text, text, text) FROM PUBLIC;

-- What the serving generation is and which changes it has taken (import --status). sequence is
-- the last change set applied (a full file's own "sequence", or 0); changes keeps each delta's
-- digest, so that one applied twice is recognised and changes nothing.
CREATE TABLE IF NOT EXISTS bank_generation (
    id           integer PRIMARY KEY CHECK (id = 1),
    generation   bigint NOT NULL,
    source       text NOT NULL,
    loaded_at    timestamptz NOT NULL,
    sequence     bigint NOT NULL,
    parties      bigint NOT NULL,
    accounts     bigint NOT NULL,
    transactions bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS bank_data_changes (
    generation   bigint NOT NULL,
    sequence     bigint NOT NULL,
    sha256       text NOT NULL,
    source       text NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    parties      bigint NOT NULL,
    accounts     bigint NOT NULL,
    transactions bigint NOT NULL,
    PRIMARY KEY (generation, sequence)
);
-- The data already there (imported before this migration) is the first generation.
INSERT INTO bank_generation (id, generation, source, loaded_at, sequence, parties, accounts, transactions)
SELECT 1, 1, CASE WHEN EXISTS (SELECT 1 FROM accounts) THEN 'an import before migration 0009' ELSE 'nothing imported yet' END, now(), 0, (SELECT count(*) FROM parties), (SELECT count(*) FROM accounts), (SELECT count(*) FROM transactions)
ON CONFLICT (id) DO NOTHING;
