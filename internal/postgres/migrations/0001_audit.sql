-- Audit chain (internal/audit). Rows are never updated; they are deleted only by expiry, which
-- sets dsop.audit_expire for its own transaction and leaves a signed checkpoint. Grant the
-- application role INSERT and SELECT only:
--   REVOKE UPDATE, DELETE, TRUNCATE ON audit_records FROM <app role>;
CREATE TABLE IF NOT EXISTS audit_records (
    seq                     bigint PRIMARY KEY,
    recorded_at             timestamptz NOT NULL,
    account_info_request_id text,
    correlation_id          text,
    party_id                text,
    consumer                text,
    status                  integer NOT NULL,
    record                  text NOT NULL, -- the exact JSON that was hashed
    hash                    text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_case ON audit_records (account_info_request_id);
CREATE INDEX IF NOT EXISTS audit_records_party ON audit_records (party_id);
CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records (recorded_at);

CREATE TABLE IF NOT EXISTS audit_checkpoint (
    id         integer PRIMARY KEY CHECK (id = 1),
    checkpoint text NOT NULL
);

CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('dsop.audit_expire', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_records is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_records_append_only ON audit_records;
CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_records_append_only();
