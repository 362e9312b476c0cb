package konkursvarsel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Customers tells which of a party's accounts the bank would block: the accounts it owns now.
type Customers interface {
	AccountsToBlock(ctx context.Context, party string) ([]string, error)
}

// Poller keeps the notice store up to date with BRREG (konkursvarsel.md §4): the first sync
// starts at Start, later ones at the durable cursor (less Overlap, since "after" may be exclusive
// and several notices may share a timestamp: duplicates are harmless, gaps are not). A sync
// stores the notices, records the bank's actions, and only then moves the cursor, so a crash at
// any point repeats work but never loses it.
type Poller struct {
	Client    *Client
	Store     Store
	Outbox    Outbox
	Customers Customers
	// ExportUnknown (DSOP_TARGETED_EXTRACTION) turns an opening for a party the bank data has no
	// accounts of into an export action instead of nothing: for banks that copy only the data of
	// bankrupt parties, when a notice arrives (docs/bank-data.md "Targeted extraction").
	ExportUnknown bool
	Start         time.Time // first sync: registered after this (zero = the whole history)
	// Overlap is how far before the cursor each poll asks again (DSOP_KONKURSVARSEL_OVERLAP,
	// default 24 h): a notice registered before the cursor but published late is still fetched,
	// and applied once (notices are stored by uuid).
	Overlap  time.Duration
	Interval time.Duration // default 5 minutes
	Logger   *slog.Logger
	Now      func() time.Time
	Tracer   trace.Tracer // optional
	// MaxSkew is how far ahead of this server's clock a notice may be registered and still move
	// the cursor (default 5 minutes, for clocks that differ): a notice dated later is stored and
	// applied, but does not move the cursor, so that it cannot make the poller skip every notice
	// registered until its date.
	MaxSkew time.Duration

	// One sync at a time: a token in syncing, taken by a caller that waits no longer than its
	// context (issue #29: an on-demand check queued behind a stuck sync for 59 s). statusMu
	// guards status only, held for a copy or an update, never across a sync, so /metrics and
	// /readyz never wait for one.
	syncOnce sync.Once
	syncing  chan struct{}
	statusMu sync.Mutex
	status   SyncStatus
	future   map[string]bool // future-dated notices already reported (under syncing)
}

// update changes the status under its lock.
func (p *Poller) update(f func(s *SyncStatus)) {
	p.statusMu.Lock()
	defer p.statusMu.Unlock()
	if p.status.Applied == nil {
		p.status.Applied = map[Type]int{}
	}
	f(&p.status)
}

// DefaultOverlap is how far before its cursor a poll asks again when Overlap is not set.
const DefaultOverlap = 24 * time.Hour

// SyncStatus is what operations watch.
type SyncStatus struct {
	LastSuccess time.Time
	LastAttempt time.Time
	LastError   string
	Cursor      time.Time
	// Lag is how far the newest notice seen was registered before the last successful sync.
	Lag      time.Duration
	Applied  map[Type]int // notices newly stored, per type, since start
	Rejected int
	Errors   int
	// FutureDated counts the notices registered later than this server's clock allows.
	FutureDated int
}

// SyncResult is what one sync did.
type SyncResult struct {
	Fetched, Applied, Rejected, Actions int
	Cursor                              time.Time
}

func (p *Poller) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Poller) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return p.Logger
}

// Status returns a copy of the status.
func (p *Poller) Status() SyncStatus {
	p.statusMu.Lock()
	defer p.statusMu.Unlock()
	s := p.status
	s.Applied = map[Type]int{}
	for k, v := range p.status.Applied {
		s.Applied[k] = v
	}
	return s
}

// Sync fetches and applies what BRREG has registered since the cursor.
// A caller that cannot start a sync before its context ends gets an error wrapping ctx.Err().
func (p *Poller) Sync(ctx context.Context) (SyncResult, error) {
	p.syncOnce.Do(func() { p.syncing = make(chan struct{}, 1) })
	select {
	case p.syncing <- struct{}{}:
		defer func() { <-p.syncing }()
	case <-ctx.Done():
		return SyncResult{}, fmt.Errorf("konkursvarsel sync: another sync is running: %w", ctx.Err())
	}
	if p.Tracer != nil {
		var span trace.Span
		ctx, span = p.Tracer.Start(ctx, "konkursvarsel.sync")
		defer span.End()
	}
	p.update(func(s *SyncStatus) { s.LastAttempt = p.now() })
	res, err := p.sync(ctx)
	if err != nil {
		p.update(func(s *SyncStatus) { s.Errors++; s.LastError = err.Error() })
		p.logger().Error("konkursvarsel sync failed", "error", err.Error())
		return res, err
	}
	p.update(func(s *SyncStatus) {
		s.LastSuccess, s.LastError, s.Cursor = p.now(), "", res.Cursor
		if !res.Cursor.IsZero() {
			s.Lag = s.LastSuccess.Sub(res.Cursor)
		}
	})
	st := p.Status()
	p.logger().Info("konkursvarsel sync", "fetched", res.Fetched, "applied", res.Applied, "rejected", res.Rejected,
		"actions", res.Actions, "cursor", res.Cursor.Format(TimeFormat), "lag_seconds", int(st.Lag.Seconds()),
		"applied_total_by_type", st.Applied, "rejected_total", st.Rejected, "errors_total", st.Errors,
		"last_success", st.LastSuccess.UTC().Format(time.RFC3339))
	return res, nil
}

func (p *Poller) sync(ctx context.Context) (SyncResult, error) {
	var res SyncResult
	cursor, err := p.Store.Cursor(ctx)
	if err != nil {
		return res, err
	}
	from := p.Start
	if !cursor.IsZero() {
		overlap := p.Overlap
		if overlap == 0 {
			overlap = DefaultOverlap
		}
		from = cursor.Add(-overlap)
	}
	raws, err := p.Client.Updated(ctx, from)
	if err != nil {
		return res, err
	}
	res.Fetched = len(raws)
	notices, rejected := parseItems(raws)
	skew := p.MaxSkew
	if skew <= 0 {
		skew = 5 * time.Minute
	}
	limit := p.now().Add(skew)
	newCursor := cursor
	for _, r := range raws {
		// Every item moves the cursor, a rejected one too: it is reported, and fetching it again
		// would not make it valid. But never past this server's clock: a notice dated in the
		// future would otherwise hide every notice registered before that date.
		t, ok := registered(r)
		if !ok {
			continue
		}
		if t.After(limit) {
			p.reportFuture(r, t)
			continue // it is fetched again at each poll (applied once), until the clock reaches it
		}
		if t.After(newCursor) {
			newCursor = t
		}
	}
	for _, e := range rejected {
		p.update(func(s *SyncStatus) { s.Rejected++ })
		res.Rejected++
		p.logger().Error("konkursvarsel notice rejected", "error", e.Error())
	}
	// The detail data set of a personal bankruptcy names its ENK/TVAM units. A notice already
	// stored with its units (fetched again by the overlap) is not asked for again; one stored
	// without (its detail failed, or it has none) is, at every poll within the overlap, and is
	// enriched when the detail comes (Store.Apply), so that a detail that failed once does not
	// leave the units unlinked when the cursor moves on (issue #29).
	lateUnits := map[string]bool{} // notices stored before whose units are linked only now
	for i, n := range notices {
		if len(n.Debitor) != 11 {
			continue
		}
		known, err := p.Store.NoticesFor(ctx, n.Debitor)
		if err == nil && hasUnits(known, n.UUID) {
			notices[i].AssociatedOrgNos = unitsOf(known, n.UUID)
			continue
		}
		detail, err := p.Client.Detail(ctx, n)
		if err != nil {
			p.logger().Warn("konkursvarsel detail unavailable; associated units unknown for now", "notice", n.UUID, "error", err.Error())
			continue
		}
		notices[i].AssociatedOrgNos = AssociatedUnits(detail, n.Debitor)
		if containsUUID(known, n.UUID) && len(notices[i].AssociatedOrgNos) > 0 {
			lateUnits[n.UUID] = true
		}
	}
	applied, err := p.apply(ctx, notices, &res)
	if err != nil {
		return res, err
	}
	res.Applied = applied
	actions, err := p.actions(ctx, notices, lateUnits)
	if err != nil {
		return res, err
	}
	if p.Outbox != nil && len(actions) > 0 {
		if res.Actions, err = p.Outbox.Add(ctx, actions); err != nil {
			return res, fmt.Errorf("record actions: %w", err)
		}
	}
	if newCursor.After(cursor) {
		if err := p.Store.SetCursor(ctx, newCursor); err != nil {
			return res, err
		}
	}
	res.Cursor = newCursor
	return res, nil
}

// reportFuture logs a future-dated notice once and counts it; the notice itself is stored and
// applied like any other.
func (p *Poller) reportFuture(raw json.RawMessage, at time.Time) {
	var item struct {
		UUID string `json:"uuid"`
	}
	_ = json.Unmarshal(raw, &item)
	id := item.UUID
	if p.future == nil {
		p.future = map[string]bool{}
	}
	if p.future[id] {
		return
	}
	p.future[id] = true
	p.update(func(s *SyncStatus) { s.FutureDated++ })
	p.logger().Warn("konkursvarsel notice registered in the future: stored and applied, but the cursor stays at this server's clock",
		"notice", id, "registreringstidspunkt", at.UTC().Format(TimeFormat), "server_time", p.now().UTC().Format(TimeFormat))
}

// apply stores the batch; if one notice conflicts with a stored one, the others still go in
// and the conflicting one is reported.
func (p *Poller) apply(ctx context.Context, notices []Notice, res *SyncResult) (int, error) {
	total := 0
	store := func(batch []Notice) error {
		var fresh []Notice
		for _, n := range batch {
			if old, err := p.Store.NoticesFor(ctx, n.Debitor); err != nil {
				return err
			} else if !containsUUID(old, n.UUID) {
				fresh = append(fresh, n)
			}
		}
		added, err := p.Store.Apply(ctx, batch)
		if err != nil {
			return err
		}
		total += added
		p.update(func(s *SyncStatus) {
			for _, n := range fresh {
				s.Applied[n.Type]++
			}
		})
		return nil
	}
	err := store(notices)
	if !errors.Is(err, ErrNoticeConflict) {
		if err != nil {
			return 0, fmt.Errorf("store notices: %w", err)
		}
		return total, nil
	}
	for _, n := range notices {
		switch err := store([]Notice{n}); {
		case errors.Is(err, ErrNoticeConflict):
			p.update(func(s *SyncStatus) { s.Rejected++ })
			res.Rejected++
			p.logger().Error("konkursvarsel notice rejected", "error", err.Error())
		case err != nil:
			return total, fmt.Errorf("store notices: %w", err)
		}
	}
	return total, nil
}

// hasUnits reports whether the stored notice id already names associated units.
func hasUnits(ns []Notice, id string) bool { return len(unitsOf(ns, id)) > 0 }

func unitsOf(ns []Notice, id string) []string {
	for _, n := range ns {
		if n.UUID == id {
			return n.AssociatedOrgNos
		}
	}
	return nil
}

func containsUUID(ns []Notice, id string) bool {
	for _, n := range ns {
		if n.UUID == id {
			return true
		}
	}
	return false
}

// actions are the bank's instructions for the notices that concern its customers.
func (p *Poller) actions(ctx context.Context, notices []Notice, lateUnits map[string]bool) ([]Action, error) {
	if p.Customers == nil {
		return nil, nil
	}
	var out []Action
	for _, n := range notices {
		accountsOf := func(parties ...string) ([]ActionAccount, error) {
			var accts []ActionAccount
			for _, party := range parties {
				nums, err := p.Customers.AccountsToBlock(ctx, party)
				if err != nil {
					return nil, fmt.Errorf("accounts of a notified party: %w", err)
				}
				for _, a := range nums {
					accts = append(accts, ActionAccount{AccountNumber: a, PartyID: party})
				}
			}
			return accts, nil
		}
		action := func(id string, accts []ActionAccount) {
			typ := ActionFor(n.Type)
			if len(accts) == 0 {
				if !p.ExportUnknown || typ != ActionBlock {
					return // not a customer: the notice is kept, nothing to do
				}
				// Targeted extraction: the copy holds only the data asked for, so a party it
				// does not know may still be a customer — the bank finds out and exports.
				typ = ActionExport
			}
			out = append(out, Action{
				ID: id, Type: typ, NoticeUUID: n.UUID, NoticeType: n.Type, Debitor: n.Debitor,
				Kjennelsesdato: n.Kjennelsesdato.String(), Registreringstidspunkt: n.Registreringstidspunkt,
				Accounts: accts, CreatedAt: p.now().UTC(),
			})
		}
		if !lateUnits[n.UUID] {
			accts, err := accountsOf(append([]string{n.Debitor}, n.AssociatedOrgNos...)...)
			if err != nil {
				return nil, err
			}
			action(n.UUID, accts)
			continue
		}
		// The units of a notice whose action may already be out (issue #29: its detail failed
		// when it first came): the debitor's own accounts stay in the notice's action (recorded
		// once, by its id), and each unit linked now gets an action of its own, "<uuid>/<orgno>",
		// so that the bank hears of the ENK's accounts too.
		accts, err := accountsOf(n.Debitor)
		if err != nil {
			return nil, err
		}
		action(n.UUID, accts)
		for _, unit := range n.AssociatedOrgNos {
			accts, err := accountsOf(unit)
			if err != nil {
				return nil, err
			}
			action(n.UUID+"/"+unit, accts)
		}
	}
	return out, nil
}

// Run syncs every Interval until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	every := p.Interval
	if every <= 0 {
		every = 5 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = p.Sync(ctx)
		}
	}
}
