package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/filter"
)

// DeltaReport says what a change set did.
type DeltaReport struct {
	Sequence                        int64
	Generation                      int64
	AlreadyApplied                  bool      // the same change set was taken before: nothing changed
	AppliedAt                       time.Time // when it was taken (now, or the first time)
	Parties, Accounts, Transactions int
}

// SequenceError is a change set whose number does not follow the last one taken.
type SequenceError struct {
	Got, Current int64
	Taken        bool // Got was taken before, from another file
}

func (e *SequenceError) Error() string {
	switch {
	case e.Taken:
		return fmt.Sprintf("change set %d was already applied from another file (its SHA-256 differs): a number names one change set only; the next one must be %d", e.Got, e.Current+1)
	case e.Got <= e.Current:
		return fmt.Sprintf("change set %d is older than the data (at %d): the next one must be %d", e.Got, e.Current, e.Current+1)
	default:
		return fmt.Sprintf("change set %d leaves a gap: the data is at %d, so change sets %d to %d must be applied first", e.Got, e.Current, e.Current+1, e.Got-1)
	}
}

// ApplyDelta applies a change set (openapi/bank-data-delta.yaml) to the serving generation in one
// transaction: the same strict reader and rules as a full file, with roles allowed to name parties
// the data already has. Its number must follow the last one taken; the same file given again is
// recognised by its SHA-256 and changes nothing. Requests go on being served throughout: the
// changes take row locks only and are seen all at once, at the commit.
func ApplyDelta(ctx context.Context, pool *pgxpool.Pool, path string, refs accounts.Referencer, policy *filter.Policy) (rep DeltaReport, err error) {
	digest, err := fileSHA256(path)
	if err != nil {
		return rep, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return rep, err
	}
	defer conn.Release()
	unlock, err := importLock(ctx, conn.Conn())
	if err != nil {
		return rep, err
	}
	defer unlock()
	st, err := Status(ctx, pool)
	if err != nil {
		return rep, err
	}
	rep.Generation = st.Generation
	// The same file again: recognised before it is read, and nothing changes.
	err = conn.QueryRow(ctx, `SELECT sequence, applied_at, parties, accounts, transactions FROM bank_data_changes
		WHERE generation = $1 AND sha256 = $2`, st.Generation, digest).
		Scan(&rep.Sequence, &rep.AppliedAt, &rep.Parties, &rep.Accounts, &rep.Transactions)
	if err == nil {
		rep.AlreadyApplied = true
		return rep, nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return rep, err
	}
	stored, err := DeliveryPolicy(ctx, pool)
	if err != nil {
		return rep, err
	}
	if stored != "" && stored != policy.Fingerprint() {
		return rep, fmt.Errorf("the field policy is not the one the stored data was imported under (fingerprint %s, now %s): a change set must be delivered like the rest, so run a full import with this policy first", stored, policy.Fingerprint())
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, t := range []string{"parties", "accounts", "account_roles", "transactions"} {
			if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE delta_%s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP", t, t)); err != nil {
				return err
			}
		}
		var (
			servicer                         json.RawMessage
			partyRows, accountRows, roleRows [][]any
			rows                             = make(chan []any, 1024)
			copied                           = make(chan error, 1)
		)
		go func() {
			// Never cancelled: on a refusal the rows end and the transaction rolls back, which
			// keeps the connection (and its import lock) healthy.
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"delta_transactions"}, TransactionColumns, pgx.CopyFromFunc(func() ([]any, error) {
				row, ok := <-rows
				if !ok {
					return nil, nil
				}
				return row, nil
			}))
			if err != nil {
				for range rows {
				}
			}
			copied <- err
		}()
		res, err := accounts.CheckFileWith(path, accounts.CheckOptions{
			Delta: true,
			KnownParties: func(ids []string) (map[string]bool, error) {
				return knownParties(ctx, pool, ids)
			},
			Load: func(e accounts.Element, v any) error {
				switch v := v.(type) {
				case accounts.Servicer:
					servicer = e.Raw
				case accounts.Party:
					partyRows = append(partyRows, partyRow(v))
				case accounts.Account:
					ref := refs.Reference(v.AccountNumber)
					accountRows = append(accountRows, accountRow(ref, v))
					roleRows = append(roleRows, roleRowsOf(ref, v)...)
				case dsop.Transaction:
					row, err := TransactionRow(refs.Reference(e.AccountNumber), v, policy)
					if err != nil {
						return err
					}
					rep.Transactions++
					rows <- row
				}
				return nil
			},
		})
		close(rows)
		cerr := <-copied
		switch {
		case err != nil:
			return err
		case len(res.Problems) > 0:
			return &accounts.Refused{File: path, Problems: res.Problems}
		case cerr != nil:
			return fmt.Errorf("transactions: %w", cerr)
		}
		if res.Sequence != st.Sequence+1 {
			var taken bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM bank_data_changes WHERE generation = $1 AND sequence = $2)", st.Generation, res.Sequence).Scan(&taken); err != nil {
				return err
			}
			return &SequenceError{Got: res.Sequence, Current: st.Sequence, Taken: taken}
		}
		rep.Sequence, rep.Parties, rep.Accounts = res.Sequence, len(partyRows), len(accountRows)
		for _, c := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"delta_parties", []string{"id", "doc"}, partyRows},
			{"delta_accounts", []string{"reference", "account_number", "doc"}, accountRows},
			{"delta_account_roles", []string{"reference", "party_id", "role", "start_date", "end_date"}, roleRows},
		} {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
				return fmt.Errorf("%s: %w", c.table, err)
			}
		}
		// The planner knows nothing of a temporary table until it is analysed: with numbers it
		// looks up each changed row by index instead of reading the tables whole.
		if _, err := tx.Exec(ctx, "ANALYZE delta_parties, delta_accounts, delta_account_roles, delta_transactions"); err != nil {
			return err
		}
		var replaced int64 // transactions corrected, not added: the count grows by the rest
		for _, m := range []struct {
			sql     string
			counted *int64
		}{
			{sql: `INSERT INTO parties (id, doc) SELECT id, doc FROM delta_parties ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc`},
			{sql: `INSERT INTO accounts (reference, account_number, doc) SELECT reference, account_number, doc FROM delta_accounts
				ON CONFLICT (reference) DO UPDATE SET doc = EXCLUDED.doc`},
			// An account's roles are its whole ownership history: replaced, never merged.
			{sql: `DELETE FROM account_roles r USING delta_accounts a WHERE r.reference = a.reference`},
			{sql: `INSERT INTO account_roles (reference, party_id, role, start_date, end_date) SELECT reference, party_id, role, start_date, end_date FROM delta_account_roles`},
			// A transaction the account already has (by identifier: transactions_identifier,
			// migration 0010) is corrected: replaced.
			{sql: `DELETE FROM transactions t USING delta_transactions d WHERE t.reference = d.reference AND t.transaction_id = d.transaction_id`, counted: &replaced},
			{sql: `INSERT INTO transactions (reference, effective_at, transaction_id, doc, delivered, delivered_fields)
				SELECT reference, effective_at, transaction_id, doc, delivered, delivered_fields FROM delta_transactions`},
		} {
			tag, err := tx.Exec(ctx, m.sql)
			if err != nil {
				return fmt.Errorf("apply change set %d: %w", res.Sequence, err)
			}
			if m.counted != nil {
				*m.counted = tag.RowsAffected()
			}
		}
		if servicer != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO bank_servicer (id, doc) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc`, string(servicerDoc(servicer))); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE bank_generation SET sequence = $1,
				parties = (SELECT count(*) FROM parties), accounts = (SELECT count(*) FROM accounts),
				transactions = transactions + $2 WHERE id = 1`,
			res.Sequence, int64(rep.Transactions)-replaced); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO bank_data_changes (generation, sequence, sha256, source, parties, accounts, transactions)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING applied_at`,
			st.Generation, res.Sequence, digest, path, rep.Parties, rep.Accounts, rep.Transactions).Scan(&rep.AppliedAt)
	})
	return rep, err
}

func knownParties(ctx context.Context, pool *pgxpool.Pool, ids []string) (map[string]bool, error) {
	rows, err := pool.Query(ctx, "SELECT id FROM parties WHERE id = ANY($1)", ids)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		have[id] = true
	}
	return have, rows.Err()
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// DataStatus is what the serving generation is and which change sets it has taken.
type DataStatus struct {
	Generation                      int64
	Source                          string
	LoadedAt                        time.Time
	Sequence                        int64
	Parties, Accounts, Transactions int64
	// Changes are the change sets taken since the full import, the latest last (at most 20).
	Changes []Change
	// Importing is true while an import or a change set holds the import lock.
	Importing bool
}

// Change is one change set taken.
type Change struct {
	Sequence                        int64
	SHA256, Source                  string
	AppliedAt                       time.Time
	Parties, Accounts, Transactions int64
}

// Status reads the serving generation (import --status).
func Status(ctx context.Context, pool *pgxpool.Pool) (DataStatus, error) {
	var st DataStatus
	err := pool.QueryRow(ctx, `SELECT generation, source, loaded_at, sequence, parties, accounts, transactions,
			EXISTS (SELECT 1 FROM pg_locks l WHERE `+lockImportHeld+`)
		FROM bank_generation WHERE id = 1`).
		Scan(&st.Generation, &st.Source, &st.LoadedAt, &st.Sequence, &st.Parties, &st.Accounts, &st.Transactions, &st.Importing)
	if err != nil {
		return st, fmt.Errorf("read the bank data's generation: %w", err)
	}
	rows, err := pool.Query(ctx, `SELECT sequence, sha256, source, applied_at, parties, accounts, transactions FROM (
			SELECT * FROM bank_data_changes WHERE generation = $1 ORDER BY sequence DESC LIMIT 20) c ORDER BY sequence`, st.Generation)
	if err != nil {
		return st, err
	}
	st.Changes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Change, error) {
		var c Change
		err := r.Scan(&c.Sequence, &c.SHA256, &c.Source, &c.AppliedAt, &c.Parties, &c.Accounts, &c.Transactions)
		return c, err
	})
	return st, err
}
