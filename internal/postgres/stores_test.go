package postgres

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/accounts/accountstest"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel/kvtest"
)

func TestAccountsStore_Suite(t *testing.T) {
	accountstest.Run(t, func(t *testing.T, bd *accounts.BankData, refs accounts.Referencer) accounts.Store {
		pool := testPool(t)
		_, err := Import(context.Background(), pool, bd, refs, defaultPolicy(t))
		require.NoError(t, err)
		return &AccountsStore{Pool: pool}
	})
}

func TestImport_IsIdempotent(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	bd := accountstest.Data(t)
	first, err := Import(ctx, pool, bd, accountstest.Refs, defaultPolicy(t))
	require.NoError(t, err)
	second, err := Import(ctx, pool, bd, accountstest.Refs, defaultPolicy(t))
	require.NoError(t, err)
	require.Equal(t, first, second)
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM transactions").Scan(&n))
	require.Equal(t, first.Transactions, n)
}

func TestNoticeStore_Suite(t *testing.T) {
	kvtest.RunStore(t, func(t *testing.T) konkursvarsel.Store { return &NoticeStore{Pool: testPool(t)} })
}

func TestOutbox_Suite(t *testing.T) {
	kvtest.RunOutbox(t, func(t *testing.T) konkursvarsel.Outbox { return &Outbox{Pool: testPool(t)} })
}
