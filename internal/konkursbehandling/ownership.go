package konkursbehandling

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/civil"
)

// Ownership clipping (konkursbehandling-rules.md §1 "Whose accounts" and §4.1 "Ownership
// clipping"): only what the debtor owned, while it owned it, leaves the bank. An account that
// changed hands, or that the debtor owned in several separate spells, is delivered only for the
// days on which the debtor was its primary owner; a co-owner's or the next owner's data never
// completes the answer.

// ownershipSpells are the periods in which party was primary owner of a, as the bank data records
// them, with overlapping and adjacent role periods merged (two role rows 1 Jan–31 Mar and 1 Apr–
// are one spell). A zero To is a spell that still lasts. Sorted by start.
func ownershipSpells(a accounts.Account, party string) []accounts.Role {
	var roles []accounts.Role
	for _, r := range a.Roles {
		if r.PartyID == party && r.Role == accounts.RolePrimaryOwner {
			roles = append(roles, r)
		}
	}
	slices.SortFunc(roles, func(x, y accounts.Role) int { return x.StartDate.Compare(y.StartDate) })
	var out []accounts.Role
	for _, r := range roles {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.EndDate.IsZero() || !r.StartDate.After(last.EndDate.AddDate(0, 0, 1)) {
				// Overlapping or adjacent: one spell, lasting as long as the longer of the two.
				if last.EndDate.IsZero() || r.EndDate.IsZero() {
					last.EndDate = civil.Date{}
				} else if r.EndDate.After(last.EndDate) {
					last.EndDate = r.EndDate
				}
				if r.Permission != "" {
					last.Permission = r.Permission
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// Holding clips the account to party's ownership within the period p: the delivery spells are
// the parts of p in which party was primary owner, and the owner shown (primaryOwner with its
// startDate/endDate) is party's latest ownership spell that touches p, as the bank data records it
// (unclipped, so the estate sees when the debtor really took over and left). ok is false when
// party owned the account on no day of p.
func Holding(a accounts.StoredAccount, party string, p civil.Period) (h accounts.Holding, ok bool) {
	h.Account = a
	for _, s := range ownershipSpells(a.Account, party) {
		clipped, overlaps := s.Period().Intersect(p.From, p.To)
		if !overlaps {
			continue
		}
		h.Spells = append(h.Spells, clipped)
		h.Owner = s
	}
	return h, len(h.Spells) > 0
}

// Holdings are the accounts party was primary owner of on at least one day of p, each clipped to
// its spells (Holding), in accountReference order: the account selection of every service that
// serves only what the party owned (Konkursbehandling, Oppgjør etter dødsfall).
func Holdings(ctx context.Context, store Accounts, party string, p civil.Period) ([]accounts.Holding, error) {
	accts, err := store.AccountsWithRole(ctx, party)
	if err != nil {
		return nil, fmt.Errorf("accounts of party: %w", err)
	}
	var out []accounts.Holding
	for _, a := range accts {
		if h, ok := Holding(a, party, p); ok {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account.Reference < out[j].Account.Reference })
	return out, nil
}
