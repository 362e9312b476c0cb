package konkursbehandling

import (
	"slices"

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
