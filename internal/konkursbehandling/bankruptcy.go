package konkursbehandling

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
)

// RefusedError says that a party may not be served because it has no open bankruptcy: 403
// ACC-011 (konkursbehandling-rules.md §6).
type RefusedError struct {
	State konkursvarsel.DebtorState
}

func (e *RefusedError) Error() string {
	switch e.State.Status {
	case konkursvarsel.StatusNone:
		return "the bank has received no bankruptcy notice (Konkursvarsel) for this party"
	case konkursvarsel.StatusAnnulled:
		return "the bankruptcy of this party was annulled (sletting); account information cannot be given"
	case konkursvarsel.StatusReversed:
		return "the bankruptcy opening of this party was reversed on appeal (oppheving); account information cannot be given"
	case konkursvarsel.StatusClosed:
		return "the bankruptcy proceedings of this party are closed (avslutning); account information cannot be given"
	}
	return "the party has no open bankruptcy"
}

// NoticeStore is what the gate reads of the Konkursvarsel notices (internal/konkursvarsel's
// memory, file and PostgreSQL stores implement it).
type NoticeStore interface {
	// NoticesFor returns every notice whose debitor is party or that names party as an
	// associated unit (ENK/TVAM) of a personal bankruptcy.
	NoticesFor(ctx context.Context, party string) ([]konkursvarsel.Notice, error)
}

// Gate decides whether a party may be served: it confirms the bankruptcy from the notices
// (konkursbehandling-rules.md §5.2 item 1). What each notice type does to a debtor is
// konkursvarsel.Derive; which of the resulting states may be served is decided here.
type Gate struct {
	Store NoticeStore
	// AllowClosed also serves parties whose proceedings are closed (avslutning). Off by default:
	// the estate is finished.
	AllowClosed bool
	// OnDemand, when set, is one sync with BRREG, run before a party with no notice at all is
	// refused: the notice may have been published since the last poll (test-cases.md K-09).
	// It runs at most once per OnDemandEvery, so unknown parties cannot make the bank hammer BRREG.
	OnDemand      func(context.Context) error
	OnDemandEvery time.Duration

	mu         sync.Mutex
	lastDemand time.Time
}

// Check returns the state of the bankruptcy that authorises a request about party, or a
// *RefusedError. The party may be the debitor itself or an associated unit (ENK/TVAM) of a
// personal bankruptcy; each debitor's history is derived on its own and an open one wins.
func (g *Gate) Check(ctx context.Context, party string) (konkursvarsel.DebtorState, error) {
	notices, err := g.read(ctx, party)
	if err != nil {
		return konkursvarsel.DebtorState{}, err
	}
	return g.CheckNotices(ctx, party, notices)
}

// onDemand runs the on-demand sync if it is due and reports whether it ran.
func (g *Gate) onDemand(ctx context.Context) bool {
	if g.OnDemand == nil {
		return false
	}
	g.mu.Lock()
	if !g.lastDemand.IsZero() && time.Since(g.lastDemand) < g.OnDemandEvery {
		g.mu.Unlock()
		return false
	}
	g.lastDemand = time.Now()
	g.mu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := g.OnDemand(sctx)
	// A sync cut off by the request's own deadline reports as run: the caller then sees the
	// deadline and answers 503.
	return err == nil || ctx.Err() != nil
}

// CheckNotices is Check with the party's notices already read (NoticeStore.NoticesFor's list).
// A party without any is refused only after the on-demand sync (which runs at most once per
// OnDemandEvery), on its notices read again after it.
func (g *Gate) CheckNotices(ctx context.Context, party string, notices []konkursvarsel.Notice) (konkursvarsel.DebtorState, error) {
	st, err := g.derive(party, notices)
	var re *RefusedError
	if errors.As(err, &re) && re.State.Status == konkursvarsel.StatusNone && g.onDemand(ctx) {
		if ctx.Err() != nil {
			// The request's deadline passed while the sync ran or waited for another (issue
			// #29): a clean 503, not a refusal decided on notices the sync may have changed.
			return konkursvarsel.DebtorState{}, fmt.Errorf("on-demand Konkursvarsel sync: %w", ctx.Err())
		}
		if notices, err = g.read(ctx, party); err != nil {
			return konkursvarsel.DebtorState{}, err
		}
		return g.derive(party, notices)
	}
	return st, err
}

func (g *Gate) read(ctx context.Context, party string) ([]konkursvarsel.Notice, error) {
	notices, err := g.Store.NoticesFor(ctx, party)
	if err != nil {
		return nil, fmt.Errorf("read notices: %w", err)
	}
	return notices, nil
}

// derive is the state of the bankruptcy that authorises a request about party, from every
// notice about it.
func (g *Gate) derive(party string, notices []konkursvarsel.Notice) (konkursvarsel.DebtorState, error) {
	byDebitor := map[string][]konkursvarsel.Notice{}
	for _, n := range notices {
		byDebitor[n.Debitor] = append(byDebitor[n.Debitor], n)
	}
	best := konkursvarsel.DebtorState{Debitor: party, Status: konkursvarsel.StatusNone}
	for debitor, ns := range byDebitor {
		st := konkursvarsel.Derive(debitor, ns)
		if g.allowed(st) {
			if !g.allowed(best) || st.Kjennelsesdato.After(best.Kjennelsesdato) {
				best = st
			}
		} else if best.Status == konkursvarsel.StatusNone {
			best = st
		}
	}
	if !g.allowed(best) {
		return best, &RefusedError{State: best}
	}
	return best, nil
}

func (g *Gate) allowed(st konkursvarsel.DebtorState) bool {
	return st.Status == konkursvarsel.StatusOpen || (g.AllowClosed && st.Status == konkursvarsel.StatusClosed)
}
