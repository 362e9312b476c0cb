package accounts

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

// ErrAccountNotFound is an accountReference that names no account (404 ACC-002).
var ErrAccountNotFound = errors.New("account not found")

// SourceError is a bank data source that could not answer (the live bank-core connector: down,
// too slow, an answer that breaks its contract, or its circuit open). The request is refused with
// 503 ACC-100 and Retry-After, and recorded; the consumer may retry.
type SourceError struct {
	Source string // "bank core"
	Reason string // down, timeout, status, garbage, circuit-open
	Err    error
}

func (e *SourceError) Error() string {
	return fmt.Sprintf("%s: %s: %v", e.Source, e.Reason, e.Err)
}

func (e *SourceError) Unwrap() error { return e.Err }

// StoredAccount is an account with its reference; Transactions are read through the Store.
type StoredAccount struct {
	Account
	Reference string
}

// Store is where the bank data lives: in memory for the embedded default, PostgreSQL in
// production. Both pass the same tests.
type Store interface {
	Servicer(ctx context.Context) (Servicer, error)
	// Party returns a customer; ok is false when the bank does not know it.
	Party(ctx context.Context, id string) (p Party, ok bool, err error)
	// AccountsWithRole returns every account on which party has or had any role.
	AccountsWithRole(ctx context.Context, party string) ([]StoredAccount, error)
	AccountByReference(ctx context.Context, ref string) (StoredAccount, error)
	// Transactions streams, in paging order (effective time, then transactionIdentifier), the
	// account's transactions with effective time in [from, until) that come after pos (nil =
	// from the start), at most limit of them.
	Transactions(ctx context.Context, ref string, from, until time.Time, after *Position, limit int, fn func(dsop.Transaction) error) error
}

// MemoryStore holds a bank data file in memory.
type MemoryStore struct {
	servicer Servicer
	parties  map[string]Party
	byRef    map[string]StoredAccount
	byParty  map[string][]string
	tx       map[string][]memTx
}

type memTx struct {
	at time.Time
	t  dsop.Transaction
}

// NewMemoryStore indexes bd; bd must have passed Validate.
func NewMemoryStore(bd *BankData, refs Referencer) *MemoryStore {
	s := &MemoryStore{
		servicer: bd.Servicer,
		parties:  map[string]Party{},
		byRef:    map[string]StoredAccount{},
		byParty:  map[string][]string{},
		tx:       map[string][]memTx{},
	}
	for _, p := range bd.Parties {
		s.parties[p.ID] = p
	}
	for _, a := range bd.Accounts {
		ref := refs.Reference(a.AccountNumber)
		txs := make([]memTx, 0, len(a.Transactions))
		for _, t := range a.Transactions {
			at, _ := EffectiveTime(t)
			txs = append(txs, memTx{at: at.UTC(), t: t})
		}
		sort.Slice(txs, func(i, j int) bool {
			return less(txs[i].at, txs[i].t.TransactionIdentifier, txs[j].at, txs[j].t.TransactionIdentifier)
		})
		s.tx[ref] = txs
		a.Transactions = nil
		s.byRef[ref] = StoredAccount{Account: a, Reference: ref}
		seen := map[string]bool{}
		for _, r := range a.Roles {
			if !seen[r.PartyID] {
				s.byParty[r.PartyID] = append(s.byParty[r.PartyID], ref)
				seen[r.PartyID] = true
			}
		}
	}
	return s
}

func less(at time.Time, id string, bt time.Time, bid string) bool {
	if !at.Equal(bt) {
		return at.Before(bt)
	}
	return id < bid
}

// Servicer implements Store.
func (s *MemoryStore) Servicer(context.Context) (Servicer, error) { return s.servicer, nil }

// Party implements Store.
func (s *MemoryStore) Party(_ context.Context, id string) (Party, bool, error) {
	p, ok := s.parties[id]
	return p, ok, nil
}

// AccountsWithRole implements Store.
func (s *MemoryStore) AccountsWithRole(_ context.Context, party string) ([]StoredAccount, error) {
	out := make([]StoredAccount, 0, len(s.byParty[party]))
	for _, ref := range s.byParty[party] {
		out = append(out, s.byRef[ref])
	}
	return out, nil
}

// AccountByReference implements Store.
func (s *MemoryStore) AccountByReference(_ context.Context, ref string) (StoredAccount, error) {
	a, ok := s.byRef[ref]
	if !ok {
		return StoredAccount{}, ErrAccountNotFound
	}
	return a, nil
}

// Transactions implements Store.
func (s *MemoryStore) Transactions(ctx context.Context, ref string, from, until time.Time, after *Position, limit int, fn func(dsop.Transaction) error) error {
	txs := s.tx[ref]
	i := sort.Search(len(txs), func(i int) bool {
		if after != nil {
			return less(after.Time, after.ID, txs[i].at, txs[i].t.TransactionIdentifier)
		}
		return !txs[i].at.Before(from)
	})
	for n := 0; i < len(txs) && n < limit; i++ {
		if txs[i].at.Before(from) {
			continue
		}
		if !txs[i].at.Before(until) {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(txs[i].t); err != nil {
			return err
		}
		n++
	}
	return nil
}
