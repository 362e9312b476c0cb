package oed_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/oed"
)

func bank(t *testing.T) (*oed.Decider, accounts.Referencer) {
	t.Helper()
	d := civil.MustParse
	role := func(party, from, to string) accounts.Role {
		r := accounts.Role{PartyID: party, Role: accounts.RolePrimaryOwner, StartDate: d(from)}
		if to != "" {
			r.EndDate = d(to)
		}
		return r
	}
	acct := func(number string, roles ...accounts.Role) accounts.Account {
		return accounts.Account{AccountNumber: number, Type: dsop.SalaryAccount, Currency: "NOK", Status: dsop.Enabled, StartDate: d("2001-01-01"), Roles: roles}
	}
	bd := &accounts.BankData{
		Servicer: accounts.Servicer{OrganisationNumber: "900293003"},
		Parties:  []accounts.Party{{ID: "12034510170", DateOfDeath: d("2026-09-15")}, {ID: "05075210061"}},
		Accounts: []accounts.Account{
			acct("15038660109", role("12034510170", "2001-04-01", "")),
			acct("15038660206", role("12034510170", "2010-02-01", "2026-07-31"), role("05075210061", "2026-08-01", "")),
		},
	}
	require.NoError(t, bd.Validate())
	refs := accounts.NewReferencer([]byte("0123456789abcdef0123456789abcdef"))
	store := accounts.NewMemoryStore(bd, refs)
	return &oed.Decider{Deaths: oed.BankDeaths{Parties: store}, Accounts: store, Service: dsopservice.OED()}, refs
}

func TestDecider_ServesTheDeceasedFromThreeMonthsBeforeTheDeath(t *testing.T) {
	dec, refs := bank(t)
	ctx := context.Background()
	p := civil.Period{From: civil.MustParse("2026-06-15"), To: civil.MustParse("2026-11-23")}
	_, holdings, err := dec.ForParty(ctx, "12034510170", p)
	require.NoError(t, err)
	require.Len(t, holdings, 2)
	for _, h := range holdings {
		if h.Account.AccountNumber == "15038660206" {
			require.Equal(t, civil.MustParse("2026-07-31"), h.Spells[0].To, "clipped at the sale")
		}
	}
	// A day earlier is outside the window.
	_, _, err = dec.ForParty(ctx, "12034510170", civil.Period{From: civil.MustParse("2026-06-14"), To: p.To})
	var we *dsopservice.WindowError
	require.True(t, errors.As(err, &we), "%v", err)
	// The heir is alive.
	_, _, err = dec.ForParty(ctx, "05075210061", p)
	require.ErrorAs(t, err, &oed.NotDeceasedError{})
	// Step 2b: the savings account is the deceased's only until July; after it, it is not found.
	d, h, err := dec.ForAccount(ctx, refs.Reference("15038660206"), p)
	require.NoError(t, err)
	require.Equal(t, "12034510170", d.Party)
	require.Equal(t, civil.MustParse("2026-07-31"), h.Spells[0].To)
	_, _, err = dec.ForAccount(ctx, refs.Reference("15038660206"), civil.Period{From: civil.MustParse("2026-08-01"), To: p.To})
	require.ErrorIs(t, err, accounts.ErrAccountNotFound)
}
