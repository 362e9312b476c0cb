-- A transaction's identifier is unique within its account (the bank data rules, openapi/bank-data.yaml):
-- the database now says so too, and a change set finds the transaction it corrects by it. Without
-- this index, replacing 10 000 transactions read the whole table: 13.6 s at 10 M transactions
-- (issue #28, make bench-scale); with it, one index lookup each.
CREATE UNIQUE INDEX IF NOT EXISTS transactions_identifier ON transactions (reference, transaction_id);
