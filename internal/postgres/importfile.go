package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/time/rate"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/filter"
)

// The import lock is held (per session) by a full import or a change set for as long as it runs:
// one at a time per schema (the two-key form: this purpose, the schema), and a crashed one
// releases it with its connection.
const (
	lockImportArgs = "hashtext('dsop-bank import'), hashtext(current_schema())"
	// lockImportHeld matches the lock in pg_locks (l).
	lockImportHeld = "l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid::int4 = hashtext('dsop-bank import') AND l.objid::int4 = hashtext(current_schema())"
)

// Progress is how far an import has come: its phase (load, index, switch, drop) and, while
// loading, where in the file it reads and how many transactions it has written.
type Progress struct {
	Phase        string
	Offset       int64
	Transactions int
}

// ImportOptions tune an import.
type ImportOptions struct {
	// Progress, when set, is told how far the import has come.
	Progress func(Progress)
	// MaxRate caps the transactions loaded per second (0 = as fast as it goes): on a database
	// that serves at the same time, a lower rate leaves it more room (docs/bank-data.md).
	MaxRate float64
}

// ImportReport says what an import did.
type ImportReport struct {
	Parties, Accounts, Transactions int
	Generation                      int64
	Sequence                        int64 // the change sequence the data now stands at
	// Warnings are things that went wrong after the new data was in place.
	Warnings []string
}

// ImportFile replaces the bank data with a file, without ever blocking the requests being served
// (issue #28). One pass reads, checks (accounts.CheckFileWith: every problem, located) and loads
// the file into a new generation (migration 0009's <table>_stage tables, on connections of their
// own, straight from the file into COPY, so memory is bounded by MaxElement and the checker's
// sets of party ids and account numbers); a file with any problem is refused as a whole
// (*accounts.Refused) and its stage dropped. Then the stage is indexed and switched in with one
// short transaction, which also records the field policy the delivered forms were made under; a
// crash before that commit leaves the old generation serving.
func ImportFile(ctx context.Context, pool *pgxpool.Pool, path string, refs accounts.Referencer, policy *filter.Policy, o ImportOptions) (rep ImportReport, err error) {
	progress := o.Progress
	if progress == nil {
		progress = func(Progress) {}
	}
	ctl, err := pool.Acquire(ctx)
	if err != nil {
		return rep, err
	}
	defer ctl.Release()
	unlock, err := importLock(ctx, ctl.Conn())
	if err != nil {
		return rep, err
	}
	defer unlock()
	if _, err := ctl.Exec(ctx, "SELECT dsop_bank_stage()"); err != nil {
		return rep, fmt.Errorf("prepare the new generation: %w", err)
	}
	defer func() {
		if err != nil {
			// What was staged is nobody's: drop it now (a crash leaves it to the next import).
			_, _ = ctl.Exec(context.WithoutCancel(ctx), "SELECT dsop_bank_discard()")
		}
	}()
	ld, err := newStageLoader(ctx, pool.Config().ConnConfig, refs, policy, progress)
	if o.MaxRate > 0 {
		ld.limit = rate.NewLimiter(rate.Limit(o.MaxRate), max(1, int(o.MaxRate/10)))
	}
	if err != nil {
		return rep, err
	}
	res, err := accounts.CheckFileWith(path, accounts.CheckOptions{Load: ld.load, Prepare: ld.prepare})
	if err == nil && len(res.Problems) > 0 {
		err = &accounts.Refused{File: path, Problems: res.Problems}
	}
	if err != nil {
		ld.abort()
		return rep, err
	}
	if err := ld.finish(); err != nil {
		return rep, err
	}
	if _, err := ctl.Exec(ctx, "INSERT INTO bank_servicer_stage (id, doc) VALUES (1, $1)", string(servicerDoc(ld.servicer))); err != nil {
		return rep, fmt.Errorf("servicer: %w", err)
	}
	progress(Progress{Phase: "index", Transactions: ld.transactions})
	if _, err := ctl.Exec(ctx, "SELECT dsop_bank_index()"); err != nil {
		return rep, fmt.Errorf("index the new generation: %w", err)
	}
	progress(Progress{Phase: "switch", Transactions: ld.transactions})
	rep = ImportReport{Parties: ld.parties, Accounts: ld.accounts, Transactions: ld.transactions, Sequence: max(res.Sequence, 0)}
	err = switchGeneration(ctx, ctl.Conn(), func(tx pgx.Tx) error {
		if err := recordDeliveryPolicy(ctx, tx, policy); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO bank_generation (id, generation, source, loaded_at, sequence, parties, accounts, transactions)
			VALUES (1, 1, $1, now(), $2, $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET generation = bank_generation.generation + 1, source = EXCLUDED.source,
				loaded_at = EXCLUDED.loaded_at, sequence = EXCLUDED.sequence, parties = EXCLUDED.parties,
				accounts = EXCLUDED.accounts, transactions = EXCLUDED.transactions
			RETURNING generation`, path, rep.Sequence, rep.Parties, rep.Accounts, rep.Transactions).Scan(&rep.Generation)
	})
	if err != nil {
		return rep, err
	}
	// Switched: from here on the import has succeeded, whatever happens to the old generation.
	progress(Progress{Phase: "drop", Transactions: ld.transactions})
	if _, derr := ctl.Exec(ctx, "SELECT dsop_bank_discard()"); derr != nil {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the previous generation was not dropped (%v): the next import drops it", derr))
	}
	return rep, nil
}

// importLockWait is how long an import waits for another to end before it gives up: long enough
// for the database to finish what a killed import's connection was still doing (an index build
// goes on until it next talks to its client).
const importLockWait = 30 * time.Second

// importLock takes the import lock on conn, or says who holds it.
func importLock(ctx context.Context, conn *pgx.Conn) (unlock func(), err error) {
	deadline := time.Now().Add(importLockWait)
	for {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock("+lockImportArgs+")").Scan(&ok); err != nil {
			return nil, fmt.Errorf("import lock: %w", err)
		}
		if ok {
			return func() {
				_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+lockImportArgs+")")
			}, nil
		}
		if time.Now().After(deadline) {
			var pid int
			var since time.Time
			_ = conn.QueryRow(ctx, `SELECT a.pid, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
				WHERE `+lockImportHeld).Scan(&pid, &since)
			return nil, fmt.Errorf("another import or change set is being applied to this database (its connection is backend %d, open since %s): wait for it to end (dsop-bank import --status); if its process is gone and the database is still busy with its last statement, end that with SELECT pg_terminate_backend(%d)", pid, since.Format(time.RFC3339), pid)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// switchLockTimeout bounds how long the switch may hold up requests: its renames wait for the
// requests in flight, and new requests queue behind the renames. On a timeout it lets go and
// tries again, up to switchAttempts times.
const (
	switchLockTimeout = "200ms"
	switchAttempts    = 100
)

// switchGeneration renames the stage into place (dsop_bank_switch) and runs also in the same
// transaction.
func switchGeneration(ctx context.Context, conn *pgx.Conn, also func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+switchLockTimeout+"'"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "SELECT dsop_bank_switch()"); err != nil {
				return err
			}
			return also(tx)
		})
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) || pe.Code != "55P03" || attempt == switchAttempts { // lock_not_available
			if err != nil {
				return fmt.Errorf("switch to the new generation: %w", err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt%10+1) * 50 * time.Millisecond):
		}
	}
}

// stageLoader writes a file's elements into the stage tables, one COPY per table, each on a
// connection of its own so that they run at once.
type stageLoader struct {
	refs     accounts.Referencer
	policy   *filter.Policy
	progress func(Progress)
	cancel   context.CancelFunc
	ctx      context.Context
	limit    *rate.Limiter // nil: no cap

	servicer                                 json.RawMessage
	parties, accounts, transactions          int
	partyRows, accountRows, roleRows, txRows *copyStream
}

func newStageLoader(ctx context.Context, cc *pgx.ConnConfig, refs accounts.Referencer, policy *filter.Policy, progress func(Progress)) (*stageLoader, error) {
	cctx, cancel := context.WithCancel(ctx)
	l := &stageLoader{refs: refs, policy: policy, progress: progress, cancel: cancel, ctx: cctx}
	var err error
	for _, s := range []struct {
		into  **copyStream
		table string
		cols  []string
	}{
		{&l.partyRows, "parties_stage", []string{"id", "doc"}},
		{&l.accountRows, "accounts_stage", []string{"reference", "account_number", "doc"}},
		{&l.roleRows, "account_roles_stage", []string{"reference", "party_id", "role", "start_date", "end_date"}},
		{&l.txRows, "transactions_stage", TransactionColumns},
	} {
		if *s.into, err = startCopy(cctx, cc, s.table, s.cols); err != nil {
			l.abort()
			return nil, err
		}
	}
	return l, nil
}

func (l *stageLoader) streams() []*copyStream {
	return []*copyStream{l.partyRows, l.accountRows, l.roleRows, l.txRows}
}

// prepare is accounts.CheckOptions.Prepare: a transaction's row (its delivered form is the
// costly part) is made on several cores at once.
func (l *stageLoader) prepare(e accounts.Element, v any) (any, error) {
	if t, ok := v.(dsop.Transaction); ok {
		return TransactionRow(l.refs.Reference(e.AccountNumber), t, l.policy)
	}
	return v, nil
}

// load is accounts.CheckOptions.Load.
func (l *stageLoader) load(e accounts.Element, v any) error {
	switch v := v.(type) {
	case accounts.Servicer:
		l.servicer = e.Raw
	case accounts.Party:
		l.parties++
		return l.partyRows.send(partyRow(v))
	case accounts.Account:
		l.accounts++
		ref := l.refs.Reference(v.AccountNumber)
		for _, r := range roleRowsOf(ref, v) {
			if err := l.roleRows.send(r); err != nil {
				return err
			}
		}
		return l.accountRows.send(accountRow(ref, v))
	case []any: // a transaction's row, from prepare
		if l.limit != nil {
			if err := l.limit.Wait(l.ctx); err != nil {
				return err
			}
		}
		if l.transactions++; l.transactions%10000 == 0 {
			l.progress(Progress{Phase: "load", Offset: e.Offset, Transactions: l.transactions})
		}
		return l.txRows.send(v)
	}
	return nil
}

// finish ends every COPY and reports the first failure.
func (l *stageLoader) finish() error {
	var first error
	for _, s := range l.streams() {
		if err := s.close(); err != nil && first == nil {
			first = fmt.Errorf("%s: %w", s.table, err)
		}
	}
	l.cancel()
	return first
}

// abort stops every COPY (their rows are dropped with the stage).
func (l *stageLoader) abort() {
	l.cancel()
	for _, s := range l.streams() {
		if s != nil {
			_ = s.close()
		}
	}
}

// copyStream is one COPY FROM fed row by row from the reader.
type copyStream struct {
	table string
	rows  chan []any
	done  chan error
	err   atomic.Pointer[error]
	shut  bool
}

func startCopy(ctx context.Context, cc *pgx.ConnConfig, table string, cols []string) (*copyStream, error) {
	conn, err := pgx.ConnectConfig(ctx, cc.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect for %s: %w", table, err)
	}
	s := &copyStream{table: table, rows: make(chan []any, 1024), done: make(chan error, 1)}
	go func() {
		defer conn.Close(context.WithoutCancel(ctx))
		_, err := conn.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
			row, ok := <-s.rows
			if !ok {
				return nil, nil
			}
			return row, nil
		}))
		if err != nil {
			s.err.Store(&err)
			for range s.rows {
				// the reader stops at its next send; until then nothing may block it
			}
		}
		s.done <- err
	}()
	return s, nil
}

func (s *copyStream) send(row []any) error {
	if p := s.err.Load(); p != nil {
		return fmt.Errorf("%s: %w", s.table, *p)
	}
	s.rows <- row
	return nil
}

func (s *copyStream) close() error {
	if s.shut {
		return nil
	}
	s.shut = true
	close(s.rows)
	return <-s.done
}

// servicerDoc stores the servicer as Import does (decoded and encoded again).
func servicerDoc(raw []byte) []byte {
	var s accounts.Servicer
	_ = json.Unmarshal(raw, &s)
	b, _ := json.Marshal(s)
	return b
}
