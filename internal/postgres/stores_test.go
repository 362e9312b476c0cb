package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/accounts/accountstest"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel/kvtest"
)

func TestAccountsStore_Suite(t *testing.T) {
	accountstest.Run(t, func(t *testing.T, bd *accounts.BankData, refs accounts.Referencer) accounts.Store {
		pool := testPool(t)
		_, err := ImportFile(context.Background(), pool, accountstest.WriteFile(t, bd), refs, defaultPolicy(t), ImportOptions{})
		require.NoError(t, err)
		return &AccountsStore{Pool: pool}
	})
}

func TestImport_IsIdempotent(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	bd := accountstest.Data(t)
	first, err := ImportFile(ctx, pool, accountstest.WriteFile(t, bd), accountstest.Refs, defaultPolicy(t), ImportOptions{})
	require.NoError(t, err)
	second, err := ImportFile(ctx, pool, accountstest.WriteFile(t, bd), accountstest.Refs, defaultPolicy(t), ImportOptions{})
	require.NoError(t, err)
	require.Equal(t, first.Generation+1, second.Generation, "each import is a new generation")
	first.Generation = second.Generation
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

// The account and its owners' notices read in one statement are what the two separate reads
// give: every party that was ever a primary owner gets NoticesFor's list (associated units of a
// personal bankruptcy included), nobody else's notices come along, and an unknown reference is not
// found.
func TestAccountWithOwnerNotices_IsTheSeparateReads(t *testing.T) {
	ctx := context.Background()
	pool := testPool(t)
	bd := accountstest.Data(t)
	// An account that changed hands, with a disponent beside its owners.
	d := civil.MustParse
	bd.Accounts = append(bd.Accounts, accounts.Account{AccountNumber: "15030000099", Type: dsop.BusinessAccount, Currency: "NOK",
		Status: dsop.Disabled, StartDate: d("2010-01-01"), Roles: []accounts.Role{
			{PartyID: bd.Parties[0].ID, Role: accounts.RolePrimaryOwner, StartDate: d("2010-01-01"), EndDate: d("2025-12-31")},
			{PartyID: bd.Parties[1].ID, Role: accounts.RolePrimaryOwner, StartDate: d("2026-01-01")},
			{PartyID: bd.Parties[2].ID, Role: accounts.RoleDisponent, StartDate: d("2010-01-01")}}})
	require.NoError(t, bd.Validate())
	_, err := ImportFile(ctx, pool, accountstest.WriteFile(t, bd), accountstest.Refs, defaultPolicy(t), ImportOptions{})
	require.NoError(t, err)
	notices := &NoticeStore{Pool: pool}
	at := time.Date(2026, 6, 8, 10, 0, 0, 0, time.UTC)
	var batch []konkursvarsel.Notice
	for i, p := range bd.Parties {
		batch = append(batch, konkursvarsel.Notice{UUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1), Type: konkursvarsel.Aapning,
			Registreringstidspunkt: at.Add(time.Duration(i) * time.Hour), Kjennelsesdato: civil.Of(at), Debitor: p.ID})
		if i%2 == 0 { // and a later one, so that each list has an order to keep
			batch = append(batch, konkursvarsel.Notice{UUID: fmt.Sprintf("00000000-0000-4000-9000-%012d", i+1), Type: konkursvarsel.Sletting,
				Registreringstidspunkt: at.Add(time.Duration(i)*time.Hour + time.Minute), Debitor: p.ID})
		}
	}
	// A personal bankruptcy that names the first party as its associated unit.
	batch = append(batch, konkursvarsel.Notice{UUID: "00000000-0000-4000-a000-000000000001", Type: konkursvarsel.Aapning,
		Registreringstidspunkt: at.Add(-time.Hour), Kjennelsesdato: civil.Of(at), Debitor: "19020101140", AssociatedOrgNos: []string{bd.Parties[0].ID}})
	_, err = notices.Apply(ctx, batch)
	require.NoError(t, err)

	store := &AccountsStore{Pool: pool}
	shared := 0 // accounts with more than one primary owner
	for _, acct := range bd.Accounts {
		ref := accountstest.Refs.Reference(acct.AccountNumber)
		got, byOwner, err := store.AccountWithOwnerNotices(ctx, ref)
		require.NoError(t, err)
		want, err := store.AccountByReference(ctx, ref)
		require.NoError(t, err)
		require.Equal(t, want, got)
		primary := map[string]bool{}
		for _, r := range acct.Roles {
			if r.Role != accounts.RolePrimaryOwner {
				continue
			}
			primary[r.PartyID] = true
			list, err := notices.NoticesFor(ctx, r.PartyID)
			require.NoError(t, err)
			require.NotEmpty(t, list, "every party has a notice here")
			require.Equal(t, list, byOwner[r.PartyID], "account %s, owner %s", acct.AccountNumber, r.PartyID)
		}
		if len(primary) > 1 {
			shared++
		}
		for party := range byOwner {
			require.True(t, primary[party], "account %s: notices of %s, who was never its primary owner", acct.AccountNumber, party)
		}
	}
	require.Positive(t, shared, "the data has accounts that changed hands or are held jointly")
	_, _, err = store.AccountWithOwnerNotices(ctx, "no-such-reference")
	require.ErrorIs(t, err, accounts.ErrAccountNotFound)
}
