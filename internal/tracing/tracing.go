// Package tracing wraps the request path's dependencies — the bankruptcy gate, the bank data
// store and the encrypter — in decorators that give each call a span, so that
// neither the handlers nor the domain packages start spans themselves (the shape of
// wild-workouts' common/decorator and ardanlabs/service's *otel extensions).
package tracing

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
)

// span runs fn in a span named name, marking the span as failed when fn fails.
func span(ctx context.Context, t trace.Tracer, name string, fn func(context.Context) error) error {
	ctx, s := t.Start(ctx, name)
	defer s.End()
	err := fn(ctx)
	if err != nil {
		s.SetStatus(codes.Error, err.Error())
	}
	return err
}

// Bankruptcies is what the gate answers (konkursbehandling.Bankruptcies).
type Bankruptcies interface {
	Check(ctx context.Context, party string) (konkursvarsel.DebtorState, error)
	CheckNotices(ctx context.Context, party string, notices []konkursvarsel.Notice) (konkursvarsel.DebtorState, error)
}

// Gate traces a bankruptcy gate: span "store.notices".
type Gate struct {
	Next   Bankruptcies
	Tracer trace.Tracer
}

// Check implements Bankruptcies.
func (g Gate) Check(ctx context.Context, party string) (st konkursvarsel.DebtorState, err error) {
	err = span(ctx, g.Tracer, "store.notices", func(ctx context.Context) error {
		st, err = g.Next.Check(ctx, party)
		return err
	})
	return st, err
}

// CheckNotices implements Bankruptcies. It gets no span of its own: the notices were read, in a
// span, with the account (OwnerNotices).
func (g Gate) CheckNotices(ctx context.Context, party string, notices []konkursvarsel.Notice) (konkursvarsel.DebtorState, error) {
	return g.Next.CheckNotices(ctx, party, notices)
}

// OwnerNotices traces the read of a step 2b account with its owners' notices
// (konkursbehandling.OwnerNotices): span "store.account_notices".
type OwnerNotices struct {
	Next interface {
		AccountWithOwnerNotices(ctx context.Context, ref string) (accounts.StoredAccount, map[string][]konkursvarsel.Notice, error)
	}
	Tracer trace.Tracer
}

// AccountWithOwnerNotices implements konkursbehandling.OwnerNotices.
func (o OwnerNotices) AccountWithOwnerNotices(ctx context.Context, ref string) (a accounts.StoredAccount, notices map[string][]konkursvarsel.Notice, err error) {
	err = span(ctx, o.Tracer, "store.account_notices", func(ctx context.Context) error {
		a, notices, err = o.Next.AccountWithOwnerNotices(ctx, ref)
		return err
	})
	return a, notices, err
}

// AccountsStore traces a bank data store: one span per call, named "store.<method>".
type AccountsStore struct {
	Next   accounts.Store
	Tracer trace.Tracer
}

var _ accounts.Store = AccountsStore{}

// Servicer implements accounts.Store.
func (s AccountsStore) Servicer(ctx context.Context) (srv accounts.Servicer, err error) {
	err = span(ctx, s.Tracer, "store.servicer", func(ctx context.Context) error {
		srv, err = s.Next.Servicer(ctx)
		return err
	})
	return srv, err
}

// Party implements accounts.Store.
func (s AccountsStore) Party(ctx context.Context, id string) (p accounts.Party, ok bool, err error) {
	err = span(ctx, s.Tracer, "store.party", func(ctx context.Context) error {
		p, ok, err = s.Next.Party(ctx, id)
		return err
	})
	return p, ok, err
}

// AccountsWithRole implements accounts.Store.
func (s AccountsStore) AccountsWithRole(ctx context.Context, party string) (out []accounts.StoredAccount, err error) {
	err = span(ctx, s.Tracer, "store.accounts", func(ctx context.Context) error {
		out, err = s.Next.AccountsWithRole(ctx, party)
		return err
	})
	return out, err
}

// AccountByReference implements accounts.Store.
func (s AccountsStore) AccountByReference(ctx context.Context, ref string) (a accounts.StoredAccount, err error) {
	err = span(ctx, s.Tracer, "store.account", func(ctx context.Context) error {
		a, err = s.Next.AccountByReference(ctx, ref)
		return err
	})
	return a, err
}

// Transactions implements accounts.Store.
func (s AccountsStore) Transactions(ctx context.Context, ref string, from, until time.Time, after *accounts.Position, limit int, fn func(dsop.Transaction) error) error {
	return span(ctx, s.Tracer, "store.transactions", func(ctx context.Context) error {
		return s.Next.Transactions(ctx, ref, from, until, after, limit, fn)
	})
}

// DeliveredTransactions implements accounts.DeliveredStore when the store it wraps does, and
// otherwise says it holds no delivered forms.
func (s AccountsStore) DeliveredTransactions(ctx context.Context, ref string, from, until time.Time, after *accounts.Position, limit int, policy string, fn func(accounts.Position, filter.Delivered) error) error {
	ds, ok := s.Next.(accounts.DeliveredStore)
	if !ok {
		return accounts.ErrNoDeliveredForms
	}
	return span(ctx, s.Tracer, "store.transactions", func(ctx context.Context) error {
		return ds.DeliveredTransactions(ctx, ref, from, until, after, limit, policy, fn)
	})
}

// Encrypter is the JWE step (encryption.Encrypter).
type Encrypter interface {
	For(ctx context.Context, consumerID string) (encryption.Seal, error)
}

// Encryption traces the encrypter: span "encrypt.certificate" for finding the consumer's
// certificate, span "encrypt" for each body encrypted with it.
type Encryption struct {
	Next   Encrypter
	Tracer trace.Tracer
}

// For implements Encrypter.
func (e Encryption) For(ctx context.Context, consumerID string) (encryption.Seal, error) {
	var seal encryption.Seal
	err := span(ctx, e.Tracer, "encrypt.certificate", func(ctx context.Context) (err error) {
		seal, err = e.Next.For(ctx, consumerID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, plaintext []byte) (out []byte, release func(), err error) {
		err = span(ctx, e.Tracer, "encrypt", func(ctx context.Context) error {
			out, release, err = seal(ctx, plaintext)
			return err
		})
		return out, release, err
	}, nil
}
