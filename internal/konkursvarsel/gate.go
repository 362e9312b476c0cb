package konkursvarsel

import (
	"context"
	"fmt"
)

// RefusedError says that a party may not be served because it has no open bankruptcy: 403
// ACC-011 (konkursbehandling-rules.md §6).
type RefusedError struct {
	State DebtorState
}

func (e *RefusedError) Error() string {
	switch e.State.Status {
	case StatusNone:
		return "the bank has received no bankruptcy notice (Konkursvarsel) for this party"
	case StatusAnnulled:
		return "the bankruptcy of this party was annulled (sletting); account information cannot be given"
	case StatusReversed:
		return "the bankruptcy opening of this party was reversed on appeal (oppheving); account information cannot be given"
	case StatusClosed:
		return "the bankruptcy proceedings of this party are closed (avslutning); account information cannot be given"
	}
	return "the party has no open bankruptcy"
}

// Gate decides whether a party may be served (konkursbehandling-rules.md §5.2).
type Gate struct {
	Store Store
	// AllowClosed also serves parties whose proceedings are closed (avslutning). Off by default:
	// the estate is finished.
	AllowClosed bool
}

// Check returns the state of the bankruptcy that authorises a request about party, or a
// *RefusedError. The party may be the debitor itself or an associated unit (ENK/TVAM) of a
// personal bankruptcy; each debitor's history is derived on its own and an open one wins.
func (g *Gate) Check(ctx context.Context, party string) (DebtorState, error) {
	notices, err := g.Store.NoticesFor(ctx, party)
	if err != nil {
		return DebtorState{}, fmt.Errorf("read notices: %w", err)
	}
	byDebitor := map[string][]Notice{}
	for _, n := range notices {
		byDebitor[n.Debitor] = append(byDebitor[n.Debitor], n)
	}
	best := DebtorState{Debitor: party, Status: StatusNone}
	for debitor, ns := range byDebitor {
		st := Derive(debitor, ns)
		if g.allowed(st) {
			if !g.allowed(best) || st.Kjennelsesdato.After(best.Kjennelsesdato) {
				best = st
			}
		} else if best.Status == StatusNone {
			best = st
		}
	}
	if !g.allowed(best) {
		return best, &RefusedError{State: best}
	}
	return best, nil
}

func (g *Gate) allowed(st DebtorState) bool {
	return st.Status == StatusOpen || (g.AllowClosed && st.Status == StatusClosed)
}
