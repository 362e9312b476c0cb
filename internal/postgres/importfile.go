package postgres

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/filter"
)

// ImportFile replaces the bank data with a file that has passed accounts.CheckFile, streaming it:
// transactions go straight from the file into COPY, so memory is bounded by the parties and
// accounts (without their transactions), not by the history. One transaction: a failed import
// leaves the previous data. Each transaction is stored with its delivered form under policy.
// progress, when set, is told how many bytes of the file were read and how many transactions
// written, as it goes.
func ImportFile(ctx context.Context, pool *pgxpool.Pool, path string, refs accounts.Referencer, policy *filter.Policy, progress func(read int64, transactions int)) (ImportReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return ImportReport{}, err
	}
	defer f.Close()
	var rep ImportReport
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "TRUNCATE transactions, account_roles, accounts, parties, bank_servicer"); err != nil {
			return err
		}
		var (
			servicer                         []byte
			partyRows, accountRows, roleRows [][]any
			counting                         = &countingReader{r: f}
			rows                             = make(chan []any, 256)
			streamErr                        = make(chan error, 1)
		)
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			defer close(rows)
			streamErr <- accounts.Stream(bufio.NewReaderSize(counting, 1<<20), func(e accounts.Element) error {
				switch e.Kind {
				case "invalid":
					// Checked before, so the file changed since: nothing of it is imported.
					return fmt.Errorf("%s: %s", e.Path, e.Problem)
				case "servicer":
					servicer = e.Raw
				case "party":
					var p accounts.Party
					if err := json.Unmarshal(e.Raw, &p); err != nil {
						return err
					}
					partyRows = append(partyRows, partyRow(p))
				case "account":
					var a accounts.Account
					if err := json.Unmarshal(e.Raw, &a); err != nil {
						return err
					}
					ref := refs.Reference(a.AccountNumber)
					accountRows = append(accountRows, accountRow(ref, a))
					roleRows = append(roleRows, roleRowsOf(ref, a)...)
				case "transaction":
					var t dsop.Transaction
					if err := json.Unmarshal(e.Raw, &t); err != nil {
						return err
					}
					row, err := TransactionRow(refs.Reference(e.AccountNumber), t, policy)
					if err != nil {
						return err
					}
					select {
					case rows <- row:
					case <-sctx.Done():
						return sctx.Err()
					}
				}
				return nil
			})
		}()
		n := 0
		src := pgx.CopyFromFunc(func() ([]any, error) {
			row, ok := <-rows
			if !ok {
				return nil, nil
			}
			if n++; progress != nil && n%10000 == 0 {
				progress(counting.n.Load(), n)
			}
			return row, nil
		})
		copied, err := tx.CopyFrom(ctx, pgx.Identifier{"transactions"}, TransactionColumns, src)
		cancel()
		for range rows {
			// drain: the reader ends when it sees the cancellation
		}
		if serr := <-streamErr; serr != nil && err == nil {
			err = serr
		}
		if err != nil {
			return fmt.Errorf("transactions: %w", err)
		}
		if progress != nil {
			progress(counting.n.Load(), int(copied))
		}
		if _, err := tx.Exec(ctx, "INSERT INTO bank_servicer (id, doc) VALUES (1, $1)", string(servicerDoc(servicer))); err != nil {
			return err
		}
		if err := recordDeliveryPolicy(ctx, tx, policy); err != nil {
			return err
		}
		for _, c := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"parties", []string{"id", "doc"}, partyRows},
			{"accounts", []string{"reference", "account_number", "doc"}, accountRows},
			{"account_roles", []string{"reference", "party_id", "role", "start_date", "end_date"}, roleRows},
		} {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
				return fmt.Errorf("%s: %w", c.table, err)
			}
		}
		rep = ImportReport{Parties: len(partyRows), Accounts: len(accountRows), Transactions: int(copied)}
		return nil
	})
	return rep, err
}

// servicerDoc stores the servicer as Import does (decoded and encoded again).
func servicerDoc(raw []byte) []byte {
	var s accounts.Servicer
	_ = json.Unmarshal(raw, &s)
	b, _ := json.Marshal(s)
	return b
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
