package konkursbehandling

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/civil"
)

func TestHolding_DeliverySpellsAreTheDebtorsOwnershipInsideThePeriod(t *testing.T) {
	d := civil.MustParse
	const debtor, other = "910336819", "900308841"
	role := func(party, from, to string) accounts.Role {
		r := accounts.Role{PartyID: party, Role: accounts.RolePrimaryOwner, StartDate: d(from)}
		if to != "" {
			r.EndDate = d(to)
		}
		return r
	}
	period := civil.Period{From: d("2025-10-14"), To: d("2026-11-23")}
	for _, tc := range []struct {
		name   string
		roles  []accounts.Role
		spells []string // FROM/TO
		owner  string   // the spell shown as primaryOwner
	}{
		{"owned throughout", []accounts.Role{role(debtor, "2016-01-01", "")}, []string{"2025-10-14/2026-11-23"}, "2016-01-01/.."},
		{"T-08 ownership ended inside the period", []accounts.Role{role(debtor, "2016-01-01", "2026-11-02"), role(other, "2026-11-03", "")},
			[]string{"2025-10-14/2026-11-02"}, "2016-01-01/2026-11-02"},
		{"T-09 ownership began inside the period", []accounts.Role{role(other, "2016-01-01", "2026-02-28"), role(debtor, "2026-03-01", "")},
			[]string{"2026-03-01/2026-11-23"}, "2026-03-01/.."},
		{"two spells with a gap owned by someone else", []accounts.Role{
			role(debtor, "2016-01-01", "2026-01-31"), role(other, "2026-02-01", "2026-05-31"), role(debtor, "2026-06-01", "")},
			[]string{"2025-10-14/2026-01-31", "2026-06-01/2026-11-23"}, "2026-06-01/.."},
		{"T-10 joint account: the co-owner is ignored", []accounts.Role{role(debtor, "2020-01-01", ""), role(other, "2018-01-01", "")},
			[]string{"2025-10-14/2026-11-23"}, "2020-01-01/.."},
		{"adjacent and overlapping role rows are one spell", []accounts.Role{
			role(debtor, "2025-01-01", "2025-12-31"), role(debtor, "2026-01-01", "2026-04-30"), role(debtor, "2026-03-01", "2026-06-30")},
			[]string{"2025-10-14/2026-06-30"}, "2025-01-01/2026-06-30"},
		{"disponent and secondary owner never make a spell", []accounts.Role{
			{PartyID: debtor, Role: accounts.RoleDisponent, StartDate: d("2016-01-01")}, {PartyID: debtor, Role: accounts.RoleSecondaryOwner, StartDate: d("2016-01-01")}},
			nil, ""},
		{"owned only before the period", []accounts.Role{role(debtor, "2016-01-01", "2025-10-13")}, nil, ""},
		{"the last day of ownership is the first day of the period", []accounts.Role{role(debtor, "2016-01-01", "2025-10-14")},
			[]string{"2025-10-14/2025-10-14"}, "2016-01-01/2025-10-14"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := accounts.StoredAccount{Reference: "ref", Account: accounts.Account{AccountNumber: "15030000001", Roles: tc.roles}}
			h, ok := Holding(a, debtor, period)
			require.Equal(t, len(tc.spells) > 0, ok)
			var got []string
			for _, s := range h.Spells {
				got = append(got, s.String())
			}
			require.Equal(t, tc.spells, got)
			if ok {
				require.Equal(t, tc.owner, h.Owner.Period().String())
				require.Equal(t, debtor, h.Owner.PartyID)
			}
		})
	}
}
