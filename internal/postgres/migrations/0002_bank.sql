-- Bank data (internal/accounts), loaded by `dsop-bank import`. Documents are stored as the JSON
-- the server reads back; the columns beside them exist for lookups and keyset paging.
CREATE TABLE IF NOT EXISTS bank_servicer (
    id  integer PRIMARY KEY CHECK (id = 1),
    doc json NOT NULL
);
CREATE TABLE IF NOT EXISTS parties (
    id  text PRIMARY KEY,
    doc json NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    reference      text PRIMARY KEY,
    account_number text NOT NULL UNIQUE,
    doc            json NOT NULL -- the account without its transactions (roles and balances included)
);
CREATE TABLE IF NOT EXISTS account_roles (
    reference  text NOT NULL REFERENCES accounts ON DELETE CASCADE,
    party_id   text NOT NULL,
    role       text NOT NULL,
    start_date date NOT NULL,
    end_date   date
);
CREATE INDEX IF NOT EXISTS account_roles_party ON account_roles (party_id);
CREATE TABLE IF NOT EXISTS transactions (
    reference      text NOT NULL,
    effective_at   timestamptz NOT NULL,
    transaction_id text NOT NULL,
    doc            json NOT NULL,
    PRIMARY KEY (reference, effective_at, transaction_id) -- the period query and the keyset order
);

-- Konkursvarsel (internal/konkursvarsel).
CREATE TABLE IF NOT EXISTS notices (
    uuid                   text PRIMARY KEY,
    type                   text NOT NULL,
    debitor                text NOT NULL,
    kjennelsesdato         date,
    registreringstidspunkt timestamptz NOT NULL,
    doc                    json NOT NULL,
    received_at            timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS notice_parties (
    party text NOT NULL,
    uuid  text NOT NULL REFERENCES notices ON DELETE CASCADE,
    PRIMARY KEY (party, uuid)
);
CREATE TABLE IF NOT EXISTS konkursvarsel_cursor (
    id                     integer PRIMARY KEY CHECK (id = 1),
    registreringstidspunkt timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_actions (
    seq      bigserial PRIMARY KEY,
    id       text NOT NULL UNIQUE,
    doc      json NOT NULL,
    acked_at timestamptz,
    acked_by text
);
