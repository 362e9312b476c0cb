package httpapi_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
)

// deliveredHarness is a harness on PostgreSQL whose pool the test may reach into.
func deliveredHarness(t *testing.T) (*harness, *pgxpool.Pool) {
	var pool *pgxpool.Pool
	h := newHarnessWith(t, bankWorld{openStore: func(tb testing.TB, bd *accounts.BankData, refs accounts.Referencer) accounts.Store {
		st := openPostgres(tb, bd, refs).(*postgres.AccountsStore)
		pool = st.Pool
		return st
	}})
	return h, pool
}

// Transaction pages read in delivered form from PostgreSQL (issue #15) are, through HTTP, byte
// for byte the pages the embedded store's decode-filter-encode path gives, with the same audit
// record of what was delivered, for every account of the demo parties.
func TestDeliveredForms_GiveTheAnswerOfTheStoredTransactions(t *testing.T) {
	fast, _ := deliveredHarness(t)
	slow := newHarness(t)
	compared := 0
	for _, party := range []string{openOrg, openPerson, guarantor} {
		list := decode[dsop.Accounts](t, slow.do("GET", accountsURL(earliest, today), slow.headers(party)))
		for _, a := range *list.Accounts {
			target := accountURL(a.AccountReference, "/transactions", earliest, today)
			before := len(fast.audit.Records())
			want := slow.do("GET", target, slow.headers(""))
			got := fast.do("GET", target, fast.headers(""))
			require.Equal(t, 200, want.Code, want.Body.String())
			require.Equal(t, want.Body.String(), got.Body.String(), target)
			w, g := slow.audit.Records()[len(slow.audit.Records())-1], fast.lastRecord(before)
			require.Equal(t, w.Fields, g.Fields)
			require.Equal(t, w.Transactions, g.Transactions)
			require.Equal(t, w.BodySHA256, g.BodySHA256)
			compared += *g.Transactions
		}
	}
	require.Greater(t, compared, 2000, "the comparison covered the demo bank's histories (first pages)")
}

// The fast path is really taken, and a page whose delivered forms were made under another field
// policy (a policy change without a new import) is built from the stored transactions instead.
func TestDeliveredForms_AreNotServedUnderAnotherPolicy(t *testing.T) {
	h, pool := deliveredHarness(t)
	ctx := context.Background()
	target := accountURL(h.ref(pagingAccount), "/transactions", earliest, today)
	honest := h.do("GET", target, h.headers("")).Body.String()

	// A marker planted in the delivered forms shows which path answered.
	_, err := pool.Exec(ctx, `UPDATE transactions SET delivered = json_build_object('transactionIdentifier', 'from-delivered-form')`)
	require.NoError(t, err)
	body := decode[dsop.Transactions](t, h.do("GET", target, h.headers("")))
	require.Equal(t, "from-delivered-form", (*body.Transactions)[0].TransactionIdentifier, "pages are read in delivered form")

	_, err = pool.Exec(ctx, `UPDATE dsop_settings SET value = 'another-policy' WHERE key = 'delivery_policy'`)
	require.NoError(t, err)
	require.Equal(t, honest, h.do("GET", target, h.headers("")).Body.String(), "forms of another policy are never served")

	_, err = pool.Exec(ctx, `UPDATE transactions SET delivered_fields = NULL`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `DELETE FROM dsop_settings WHERE key = 'delivery_policy'`)
	require.NoError(t, err)
	require.Equal(t, honest, h.do("GET", target, h.headers("")).Body.String(), "data imported before delivered forms existed")
}

// keepingStore is an audit store that keeps the body it is handed (as a store still holding a
// record could), and fails when told to.
type keepingStore struct {
	*audit.MemoryStore
	kept []byte
	fail error
}

func (s *keepingStore) Append(ctx context.Context, r *audit.Record) error {
	s.kept = r.Body
	if s.fail != nil {
		return s.fail
	}
	return s.MemoryStore.Append(ctx, r)
}

// A page's memory goes back for the next pages only once its answer has left (issue #15): the
// body of an answer withheld because its record could not be written is never written over,
// however many pages follow — while that of a delivered answer is (which shows the test would see
// it).
func TestDeliveredForms_PageMemoryIsReusedOnlyAfterTheAnswerLeft(t *testing.T) {
	store := &keepingStore{MemoryStore: &audit.MemoryStore{}}
	h := newHarnessWith(t, bankWorld{openStore: openPostgres}, func(d *httpapi.Deps) { d.Audit = store })
	target := accountURL(h.ref(pagingAccount), "/transactions", earliest, today)
	// Pages that follow are of a shorter period: other bytes where they overlap in memory.
	other := accountURL(h.ref(pagingAccount), "/transactions", "2018-06-08", today)
	jose := func(url string) int { return h.do("GET", url, withAccept(h.headers(""), "application/jose")).Code }

	store.fail = errors.New("disk full")
	require.Equal(t, 503, jose(target))
	withheld, was := store.kept, string(store.kept)
	require.NotEmpty(t, withheld)
	store.fail = nil
	for range 12 {
		require.Equal(t, 200, jose(other))
		require.Equal(t, was, string(withheld), "the memory of a withheld answer is never reused")
	}

	// The pool may drop a buffer now and then (always under the race detector): a few tries.
	reused := false
	for i := 0; i < 12 && !reused; i++ {
		require.Equal(t, 200, jose(target))
		delivered, was := store.kept, string(store.kept)
		require.Equal(t, 200, jose(other))
		reused = string(delivered) != was
	}
	require.True(t, reused, "the memory of a delivered answer is reused")
}
