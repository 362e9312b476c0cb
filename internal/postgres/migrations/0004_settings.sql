-- Settings every replica must agree on. secret_fingerprint identifies DSOP_SECRET_FILE (never the
-- secret itself): accountReference values and page cursors derive from that secret, so a replica
-- started with another file would hand out references the others do not know.
CREATE TABLE IF NOT EXISTS dsop_settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
