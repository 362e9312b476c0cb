-- The compliance console's sessions and pending sign-ins (issue #26, internal/sessions): kept
-- on the server so that signing out ends a session on every replica. Only the SHA-256 of each
-- cookie value and state is stored. The serving role needs SELECT, INSERT, UPDATE and DELETE here
-- (deploy/postgres roles recipe).
CREATE TABLE IF NOT EXISTS console_sessions (
    id            text PRIMARY KEY,
    sub           text NOT NULL,
    name          text NOT NULL,
    role          text NOT NULL,
    csrf          text NOT NULL,
    created       timestamptz NOT NULL,
    seen          timestamptz NOT NULL,
    role_checked  timestamptz NOT NULL,
    refresh_token text NOT NULL DEFAULT '',
    expires       timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_sub ON console_sessions (sub);
CREATE INDEX IF NOT EXISTS console_sessions_expires ON console_sessions (expires);

CREATE TABLE IF NOT EXISTS console_logins (
    state    text PRIMARY KEY,
    nonce    text NOT NULL,
    verifier text NOT NULL,
    return   text NOT NULL,
    expires  timestamptz NOT NULL
);
