package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
)

// AccountsStore is the bank data in PostgreSQL.
type AccountsStore struct{ Pool *pgxpool.Pool }

var _ accounts.Store = (*AccountsStore)(nil)

// Servicer implements accounts.Store.
func (s *AccountsStore) Servicer(ctx context.Context) (accounts.Servicer, error) {
	var srv accounts.Servicer
	var doc []byte
	if err := s.Pool.QueryRow(ctx, "SELECT doc FROM bank_servicer WHERE id = 1").Scan(&doc); err != nil {
		return srv, fmt.Errorf("servicer (has the bank data been imported?): %w", err)
	}
	return srv, json.Unmarshal(doc, &srv)
}

// Party implements accounts.Store.
func (s *AccountsStore) Party(ctx context.Context, id string) (accounts.Party, bool, error) {
	var p accounts.Party
	var doc []byte
	err := s.Pool.QueryRow(ctx, "SELECT doc FROM parties WHERE id = $1", id).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, err
	}
	return p, true, json.Unmarshal(doc, &p)
}

func scanAccount(ref string, doc []byte) (accounts.StoredAccount, error) {
	var a accounts.Account
	if err := json.Unmarshal(doc, &a); err != nil {
		return accounts.StoredAccount{}, fmt.Errorf("account %s: %w", ref, err)
	}
	return accounts.StoredAccount{Account: a, Reference: ref}, nil
}

// AccountsWithRole implements accounts.Store.
// AccountsOfPartyQuery reads the accounts a party has any role on (step 2a): through
// account_roles_party and the accounts' primary key, whatever the size of the bank
// (plans_test.go).
const AccountsOfPartyQuery = `SELECT a.reference, a.doc FROM accounts a
		WHERE a.reference IN (SELECT reference FROM account_roles WHERE party_id = $1) ORDER BY a.reference`

func (s *AccountsStore) AccountsWithRole(ctx context.Context, party string) ([]accounts.StoredAccount, error) {
	rows, err := s.Pool.Query(ctx, AccountsOfPartyQuery, party)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []accounts.StoredAccount
	for rows.Next() {
		var ref string
		var doc []byte
		if err := rows.Scan(&ref, &doc); err != nil {
			return nil, err
		}
		a, err := scanAccount(ref, doc)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// AccountByReference implements accounts.Store.
func (s *AccountsStore) AccountByReference(ctx context.Context, ref string) (accounts.StoredAccount, error) {
	var doc []byte
	err := s.Pool.QueryRow(ctx, "SELECT doc FROM accounts WHERE reference = $1", ref).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return accounts.StoredAccount{}, accounts.ErrAccountNotFound
	}
	if err != nil {
		return accounts.StoredAccount{}, err
	}
	return scanAccount(ref, doc)
}

var _ konkursbehandling.OwnerNotices = (*AccountsStore)(nil)

// AccountWithOwnerNotices implements konkursbehandling.OwnerNotices: the account and the notices
// about every party that was ever its primary owner, in one statement — one round trip and one
// snapshot, where AccountByReference and NoticeStore.NoticesFor take one each (issue #15).
func (s *AccountsStore) AccountWithOwnerNotices(ctx context.Context, ref string) (accounts.StoredAccount, map[string][]konkursvarsel.Notice, error) {
	rows, err := s.Pool.Query(ctx, `SELECT a.doc, o.party, o.doc FROM accounts a
		LEFT JOIN LATERAL (
			SELECT p.party, n.doc, n.registreringstidspunkt, n.uuid FROM notice_parties p JOIN notices n ON n.uuid = p.uuid
			WHERE p.party IN (SELECT party_id FROM account_roles r WHERE r.reference = a.reference AND r.role = $2)
		) o ON true
		WHERE a.reference = $1
		ORDER BY o.party, o.registreringstidspunkt, o.uuid`, ref, string(accounts.RolePrimaryOwner)) // each party's as NoticesFor orders them
	if err != nil {
		return accounts.StoredAccount{}, nil, err
	}
	defer rows.Close()
	var (
		a       accounts.StoredAccount
		found   bool
		notices = map[string][]konkursvarsel.Notice{}
	)
	for rows.Next() {
		raw := rows.RawValues() // text: the account's doc (on every row), party, notice doc
		if !found {
			if a, err = scanAccount(ref, raw[0]); err != nil {
				return accounts.StoredAccount{}, nil, err
			}
			found = true
		}
		if raw[1] == nil {
			continue // no notice about any owner
		}
		n, err := decodeNotice(raw[2])
		if err != nil {
			return accounts.StoredAccount{}, nil, err
		}
		party := string(raw[1])
		notices[party] = append(notices[party], n)
	}
	if err := rows.Err(); err != nil {
		return accounts.StoredAccount{}, nil, err
	}
	if !found {
		return accounts.StoredAccount{}, nil, accounts.ErrAccountNotFound
	}
	return a, notices, nil
}

// TransactionPageQuery reads one page of an account's stored transaction documents in keyset
// order: reference, period [from, until), the position after which the page starts, the page
// size. make bench reads it raw as the floor of a page (internal/bench).
const TransactionPageQuery = `SELECT doc ` + keysetPage

// keysetPage is the page both queries read; pageRows gives its arguments.
const keysetPage = `FROM transactions
	WHERE reference = $1 AND effective_at >= $2 AND effective_at < $3 AND (effective_at, transaction_id) > ($4, $5)
	ORDER BY effective_at, transaction_id LIMIT $6`

// pageRows runs a keysetPage query: the page of ref in [from, until) after pos (nil: from the
// start), at most limit rows.
func (s *AccountsStore) pageRows(ctx context.Context, query, ref string, from, until time.Time, after *accounts.Position, limit int, more ...any) (pgx.Rows, error) {
	afterTime, afterID := from.Add(-time.Microsecond), ""
	if after != nil {
		afterTime, afterID = after.Time, after.ID
	}
	return s.Pool.Query(ctx, query, append([]any{ref, from, until, afterTime, afterID, limit}, more...)...)
}

// Transactions implements accounts.Store with a keyset query on the primary key; rows are
// decoded and handed on as they arrive.
func (s *AccountsStore) Transactions(ctx context.Context, ref string, from, until time.Time, after *accounts.Position, limit int, fn func(dsop.Transaction) error) error {
	rows, err := s.pageRows(ctx, TransactionPageQuery, ref, from, until, after, limit)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return err
		}
		var t dsop.Transaction
		if err := json.Unmarshal(doc, &t); err != nil {
			return fmt.Errorf("transaction of %s: %w", ref, err)
		}
		if err := fn(t); err != nil {
			return err
		}
	}
	return rows.Err()
}

// DeliveredPageQuery is TransactionPageQuery in delivered form, with each row's paging position
// and whether the forms were made under the policy $7 (one value per query: the settings row is
// read in the same snapshot as the rows; NULL when no forms were made).
const DeliveredPageQuery = `SELECT effective_at, transaction_id, delivered, delivered_fields,
		(SELECT value FROM dsop_settings WHERE key = 'delivery_policy') = $7 ` + keysetPage

var _ accounts.DeliveredStore = (*AccountsStore)(nil)

// DeliveredTransactions implements accounts.DeliveredStore. Each row's JSON is handed to fn as
// pgx read it, without a copy (issue #15).
func (s *AccountsStore) DeliveredTransactions(ctx context.Context, ref string, from, until time.Time, after *accounts.Position, limit int, policy string, fn func(accounts.Position, filter.Delivered) error) error {
	rows, err := s.pageRows(ctx, DeliveredPageQuery, ref, from, until, after, limit, policy)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		at      time.Time
		id      string
		current *bool // whether the forms were made under this policy; NULL: none were made
	)
	// The destinations are made once: a Scan per row allocates nothing of its own.
	dest := []any{&at, &id, nil, nil, &current}
	// Rows of a page mostly carry the same field set: its text is parsed when it changes.
	var (
		lastText []byte
		lastSet  filter.FieldSet
	)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if dest[4] != nil {
			// One value per query, so the first row answers for all.
			if current == nil || !*current {
				return accounts.ErrNoDeliveredForms
			}
			dest[4] = nil
		}
		raw := rows.RawValues() // text: delivered, delivered_fields
		if raw[3] == nil {
			return accounts.ErrNoDeliveredForms // a row stored before forms were made
		}
		if !bytes.Equal(raw[3], lastText) {
			if lastSet, err = filter.ParseFieldSet(raw[3]); err != nil {
				return fmt.Errorf("transaction %s of %s: %w", id, ref, err)
			}
			lastText = append(lastText[:0], raw[3]...)
		}
		d := filter.Delivered{JSON: raw[2], Fields: lastSet}
		if err := fn(accounts.Position{Time: at.UTC(), ID: id}, d); err != nil {
			return err
		}
	}
	return rows.Err()
}

// DeliveryPolicy returns the fingerprint of the field policy the stored delivered forms were made
// under ("" when none were made).
func DeliveryPolicy(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var v string
	err := pool.QueryRow(ctx, "SELECT value FROM dsop_settings WHERE key = 'delivery_policy'").Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// recordDeliveryPolicy is written in the import's transaction, with the forms.
func recordDeliveryPolicy(ctx context.Context, tx pgx.Tx, policy *filter.Policy) error {
	_, err := tx.Exec(ctx, `INSERT INTO dsop_settings (key, value) VALUES ('delivery_policy', $1)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, policy.Fingerprint())
	return err
}

// The rows of each table, as the import writes them.

func partyRow(p accounts.Party) []any {
	doc, _ := json.Marshal(p)
	return []any{p.ID, string(doc)}
}

// accountRow stores the account without its transactions (they have a table of their own).
func accountRow(ref string, a accounts.Account) []any {
	a.Transactions = nil
	doc, _ := json.Marshal(a)
	return []any{ref, a.AccountNumber, string(doc)}
}

func roleRowsOf(ref string, a accounts.Account) [][]any {
	var out [][]any
	for _, r := range a.Roles {
		var end any
		if !r.EndDate.IsZero() {
			end = r.EndDate.In(time.UTC)
		}
		out = append(out, []any{ref, r.PartyID, string(r.Role), r.StartDate.In(time.UTC), end})
	}
	return out
}

// TransactionColumns are the columns of a row of the transactions table, as TransactionRow gives
// them (COPY FROM).
var TransactionColumns = []string{"reference", "effective_at", "transaction_id", "doc", "delivered", "delivered_fields"}

// TransactionRow is the stored row of t on the account with reference ref: the document and its
// delivered form under policy. Both imports write it; make bench fills large histories with it.
func TransactionRow(ref string, t dsop.Transaction, policy *filter.Policy) ([]any, error) {
	at, _ := accounts.EffectiveTime(t)
	doc, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	d, err := policy.Deliver(t)
	if err != nil {
		return nil, err
	}
	var delivered any // NULL: the policy delivers none of it
	if d.JSON != nil {
		delivered = string(d.JSON)
	}
	return []any{ref, at, t.TransactionIdentifier, string(doc), delivered, d.Fields.String()}, nil
}
