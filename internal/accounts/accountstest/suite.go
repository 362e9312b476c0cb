// Package accountstest is the one test suite every accounts.Store implementation passes, so the
// embedded default and PostgreSQL provably behave the same.
package accountstest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

// Factory loads bd into a fresh store.
type Factory func(t *testing.T, bd *accounts.BankData, refs accounts.Referencer) accounts.Store

// Refs is the referencer of the suite.
var Refs = accounts.NewReferencer([]byte("0123456789abcdef0123456789abcdef"))

// Data is the demo bank plus an account with 2 500 transactions, some sharing a time.
func Data(t testing.TB) *accounts.BankData {
	bd, err := accounts.DecodeBankData(demo.BankData())
	require.NoError(t, err)
	a := accounts.Account{AccountNumber: "15030000006", Type: dsop.BusinessAccount, Currency: "NOK", Status: dsop.Disabled,
		StartDate: civil.MustParse("2016-01-01"),
		Roles:     []accounts.Role{{PartyID: "20020101351", Role: accounts.RolePrimaryOwner, StartDate: civil.MustParse("2016-01-01")}}}
	start := time.Date(2018, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := range 2500 {
		at := start.Add(time.Duration(i/3) * time.Hour)
		amt := json.Number("1.50")
		st := dsop.TransactionStatusBooked
		cdi := dsop.CreditOrDebitDebit
		a.Transactions = append(a.Transactions, dsop.Transaction{TransactionIdentifier: fmt.Sprintf("t-%05d", 2500-i), BookingDate: &at, Amount: &amt, Status: &st, CreditDebitIndicator: &cdi})
	}
	bd.Accounts = append(bd.Accounts, a)
	require.NoError(t, bd.Validate())
	return bd
}

// Run runs the suite.
func Run(t *testing.T, open Factory) {
	ctx := context.Background()
	bd := Data(t)
	st := open(t, bd, Refs)
	memory := accounts.NewMemoryStore(bd, Refs)

	t.Run("servicer and parties", func(t *testing.T) {
		srv, err := st.Servicer(ctx)
		require.NoError(t, err)
		require.Equal(t, bd.Servicer, srv)
		p, ok, err := st.Party(ctx, "910336819")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "Fjelltopp Bygg AS", p.Name)
		_, ok, err = st.Party(ctx, "889640782")
		require.NoError(t, err)
		require.False(t, ok)
		// The date of death (Oppgjør etter dødsfall's gate and anchor) is kept by every store.
		p, ok, err = st.Party(ctx, "12034510170")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, civil.MustParse("2026-09-15"), p.DateOfDeath)
	})
	t.Run("accounts by party and by reference", func(t *testing.T) {
		for _, party := range []string{"910336819", "08086001471", "20020101351", "900308841", "21097400153"} {
			got, err := st.AccountsWithRole(ctx, party)
			require.NoError(t, err)
			want, _ := memory.AccountsWithRole(ctx, party)
			// By number: how a store makes its references is its own (the live connector seals the
			// number into them, the copies keep a MAC); that they lead back is tested below.
			require.ElementsMatch(t, numbersOf(want), numbersOf(got), party)
			for _, a := range got {
				byRef, err := st.AccountByReference(ctx, a.Reference)
				require.NoError(t, err)
				require.Equal(t, a.AccountNumber, byRef.AccountNumber)
				require.Equal(t, len(a.Roles), len(byRef.Roles))
				require.Equal(t, a.Balances.Current != nil, byRef.Balances.Current != nil)
			}
		}
		_, err := st.AccountByReference(ctx, "nope")
		require.ErrorIs(t, err, accounts.ErrAccountNotFound)
	})
	t.Run("transactions: period, order and keyset paging", func(t *testing.T) {
		ref := ""
		held, err := st.AccountsWithRole(ctx, "20020101351")
		require.NoError(t, err)
		for _, a := range held {
			if a.AccountNumber == "15030000006" {
				ref = a.Reference
			}
		}
		require.NotEmpty(t, ref)
		memRef := Refs.Reference("15030000006")
		from := time.Date(2018, 1, 1, 12, 0, 0, 0, time.UTC)
		until := from.Add(700 * time.Hour)
		var all []string
		var after *accounts.Position
		for page := 0; page < 10; page++ {
			var ids []string
			var last dsop.Transaction
			err := st.Transactions(ctx, ref, from, until, after, 1000, func(tr dsop.Transaction) error {
				ids = append(ids, tr.TransactionIdentifier)
				last = tr
				return nil
			})
			require.NoError(t, err)
			all = append(all, ids...)
			if len(ids) < 1000 {
				break
			}
			at, _ := accounts.EffectiveTime(last)
			after = &accounts.Position{Time: at, ID: last.TransactionIdentifier}
		}
		var want []string
		err = memory.Transactions(ctx, memRef, from, until, nil, 1<<30, func(tr dsop.Transaction) error {
			want = append(want, tr.TransactionIdentifier)
			return nil
		})
		require.NoError(t, err)
		require.Len(t, want, 2100, "700 hours of 3 transactions, the end excluded")
		require.Equal(t, want, all, "same transactions in the same order, no duplicates or gaps across pages")
		// The amount keeps its decimals.
		err = st.Transactions(ctx, ref, from, until, nil, 1, func(tr dsop.Transaction) error {
			require.Equal(t, json.Number("1.50"), *tr.Amount)
			return nil
		})
		require.NoError(t, err)
	})
}

func numbersOf(as []accounts.StoredAccount) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.AccountNumber)
	}
	return out
}
