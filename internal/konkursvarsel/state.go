package konkursvarsel

import (
	"sort"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

// Status is a debtor's bankruptcy status as the notices imply it.
type Status string

// Debtor statuses (konkursvarsel.md §6).
const (
	StatusNone     Status = "none"     // no notice at all
	StatusOpen     Status = "open"     // latest aapning not followed by anything
	StatusAnnulled Status = "annulled" // sletting
	StatusReversed Status = "reversed" // oppheving
	StatusClosed   Status = "closed"   // avslutning
)

// DebtorState is what the notices say about one debtor.
type DebtorState struct {
	Debitor        string
	Status         Status
	Kjennelsesdato civil.Date // of the governing aapning
	OpeningUUID    string
	LastNoticeUUID string
}

// Derive applies the notice types' rules (Types) to a debtor: notices are applied in
// registreringstidspunkt order (uuid breaks ties, so the result never depends on arrival order);
// aapning opens a bankruptcy anchored on its kjennelsesdato; sletting, oppheving and avslutning
// end the bankruptcy opened last. A notice that ends nothing (no open bankruptcy) is ignored.
func Derive(debitor string, notices []Notice) DebtorState {
	sorted := append([]Notice(nil), notices...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if !a.Registreringstidspunkt.Equal(b.Registreringstidspunkt) {
			return a.Registreringstidspunkt.Before(b.Registreringstidspunkt)
		}
		return a.UUID < b.UUID
	})
	st := DebtorState{Debitor: debitor, Status: StatusNone}
	for _, n := range sorted {
		rule, ok := RuleOf(n.Type)
		switch {
		case !ok:
			continue
		case rule.Status == StatusOpen:
			st = DebtorState{Debitor: debitor, Status: StatusOpen, Kjennelsesdato: n.Kjennelsesdato, OpeningUUID: n.UUID}
		case st.OpeningUUID == "":
			continue // it ends nothing
		default:
			st.Status = rule.Status
		}
		st.LastNoticeUUID = n.UUID
	}
	return st
}
