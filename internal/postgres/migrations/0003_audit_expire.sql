-- Expiry through one privileged path (security issue #13, item 8). The serving role gets INSERT
-- and SELECT on the audit tables and EXECUTE on dsop_audit_expire, never UPDATE, DELETE or
-- TRUNCATE: it can append records and ask for expiry, but it cannot remove or change a record
-- itself. dsop_audit_expire runs with its owner's rights (the role that ran the migrations), and
-- before it deletes anything it
--   * takes the chain lock (the one Append takes),
--   * refuses to remove a record younger than 90 days (the retention floor, whatever the caller
--     asks for),
--   * verifies every record it is about to cut, and the first one it keeps: the seq follows on
--     from the previous checkpoint, prev_hash links to the previous record, and the hash is the
--     SHA-256 of the record's JSON with an empty hash — so expiry cannot hide an edited or
--     deleted record,
--   * checks that the new checkpoint names the first kept record.
-- The append-only trigger lets a DELETE through only inside that function (the transaction flag
-- is set there, and current_user is then the table's owner); a role owning the tables can of
-- course do anything: run the server as another role (README "PostgreSQL roles").

CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('dsop.audit_expire', true) = 'on'
       AND current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_records is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_records_no_truncate ON audit_records;
CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only();

CREATE OR REPLACE FUNCTION dsop_audit_expire(cutoff bigint, new_checkpoint text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    genesis CONSTANT text := '0000000000000000000000000000000000000000000000000000000000000000';
    old_cp  json;
    new_cp  json := new_checkpoint::json;
    prev    text;
    want    bigint;
    r       record;
    removed integer;
BEGIN
    PERFORM pg_advisory_xact_lock(110446953627650); -- lockAudit in migrate.go
    IF EXISTS (SELECT 1 FROM audit_records WHERE seq < cutoff AND recorded_at > now() - interval '90 days') THEN
        RAISE EXCEPTION 'audit expiry refused: records younger than the 90-day floor would be removed';
    END IF;
    SELECT checkpoint::json INTO old_cp FROM audit_checkpoint WHERE id = 1;
    prev := coalesce(old_cp->>'prev_hash', genesis);
    want := coalesce((old_cp->>'seq')::bigint, 1);
    FOR r IN SELECT seq, record, hash FROM audit_records WHERE seq <= cutoff ORDER BY seq LOOP
        IF r.seq <> want THEN
            RAISE EXCEPTION 'audit expiry refused: audit chain broken: record % missing', want;
        END IF;
        IF r.record::json->>'prev_hash' IS DISTINCT FROM prev OR r.record::json->>'hash' IS DISTINCT FROM r.hash
           OR encode(sha256(convert_to(replace(r.record, '"hash":"' || r.hash || '"', '"hash":""'), 'UTF8')), 'hex') <> r.hash THEN
            RAISE EXCEPTION 'audit expiry refused: audit chain broken at record %', r.seq;
        END IF;
        prev := r.hash;
        want := r.seq + 1;
    END LOOP;
    IF want <> cutoff + 1 THEN
        RAISE EXCEPTION 'audit expiry refused: no audit record %', cutoff;
    END IF;
    IF (new_cp->>'seq')::bigint IS DISTINCT FROM cutoff
       OR new_cp->>'prev_hash' IS DISTINCT FROM (SELECT record::json->>'prev_hash' FROM audit_records WHERE seq = cutoff) THEN
        RAISE EXCEPTION 'audit expiry refused: the new checkpoint does not name record %', cutoff;
    END IF;
    PERFORM set_config('dsop.audit_expire', 'on', true);
    DELETE FROM audit_records WHERE seq < cutoff;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('dsop.audit_expire', 'off', true);
    IF removed > 0 THEN
        INSERT INTO audit_checkpoint (id, checkpoint) VALUES (1, new_checkpoint)
            ON CONFLICT (id) DO UPDATE SET checkpoint = EXCLUDED.checkpoint;
    END IF;
    RETURN removed;
END;
$$;
REVOKE ALL ON FUNCTION dsop_audit_expire(bigint, text) FROM PUBLIC;
-- A SECURITY DEFINER function resolves names in the schema it was created in, not the caller's.
ALTER FUNCTION dsop_audit_expire(bigint, text) SET search_path FROM CURRENT;
