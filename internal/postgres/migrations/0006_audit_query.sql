-- Audit queries (issue #25, internal/audit/query.go): every console page and audit command asks
-- for a page of records by case, party, consumer, service, client, reason, kind, outcome or time,
-- newest first by seq (keyset), and these indexes answer each such page without reading the log.
--
-- The columns below are derived from the stored record itself (generated, STORED): they cannot
-- disagree with what was hashed, and the serving role writes only the record. kind states
-- audit.KindOf in SQL: the store suite checks that both agree. Adding the columns rewrites the
-- table once (the append-only trigger does not fire on a rewrite); on a large log, run `migrate`
-- in a maintenance window (README "Audit log").
ALTER TABLE audit_records
    ADD COLUMN IF NOT EXISTS service   text GENERATED ALWAYS AS (record::json->>'service') STORED,
    ADD COLUMN IF NOT EXISTS operation text GENERATED ALWAYS AS (record::json->>'operation') STORED,
    ADD COLUMN IF NOT EXISTS client    text GENERATED ALWAYS AS (record::json->>'client') STORED,
    ADD COLUMN IF NOT EXISTS reason    text GENERATED ALWAYS AS (record::json->>'reason') STORED,
    ADD COLUMN IF NOT EXISTS kind      text GENERATED ALWAYS AS (
        CASE
            WHEN coalesce(record::json->>'operation', '') LIKE 'console.%'
              OR coalesce(record::json->>'operation', '') LIKE 'audit.%' THEN 'access'
            WHEN coalesce(record::json->>'consumer', '') = ''
              OR coalesce(record::json->>'reason', '') LIKE 'token:%' THEN 'unauthenticated'
            ELSE 'call'
        END) STORED;

DROP INDEX IF EXISTS audit_records_case;
DROP INDEX IF EXISTS audit_records_party;
CREATE INDEX IF NOT EXISTS audit_records_case_seq        ON audit_records (account_info_request_id, seq);
CREATE INDEX IF NOT EXISTS audit_records_party_seq       ON audit_records (party_id, seq);
CREATE INDEX IF NOT EXISTS audit_records_consumer_seq    ON audit_records (consumer, seq);
CREATE INDEX IF NOT EXISTS audit_records_correlation_seq ON audit_records (correlation_id, seq);
CREATE INDEX IF NOT EXISTS audit_records_service_seq     ON audit_records (service, seq);
CREATE INDEX IF NOT EXISTS audit_records_client_seq      ON audit_records (client, seq);
CREATE INDEX IF NOT EXISTS audit_records_reason_seq      ON audit_records (reason, seq) WHERE reason IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_records_kind_seq        ON audit_records (kind, seq);
CREATE INDEX IF NOT EXISTS audit_records_access_seq      ON audit_records (operation, seq) WHERE kind = 'access';
-- The anomaly counts (audit.Querier.Count) group these in index order.
CREATE INDEX IF NOT EXISTS audit_records_calls_case      ON audit_records (account_info_request_id) WHERE kind = 'call';
CREATE INDEX IF NOT EXISTS audit_records_calls_party     ON audit_records (party_id) WHERE kind = 'call';
