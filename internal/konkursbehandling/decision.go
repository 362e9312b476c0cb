// Package konkursbehandling is the decision of the DSOP service Konkursbehandling: may this
// party's data for this account and period leave the bank, and which part of it. It joins the
// three rules that say so — the bankruptcy is open (gate, bankruptcy.go), the period lies in the
// window from kjennelsesdato (window.go), and only what the debtor owned while it owned it
// (ownership.go) — and imports no HTTP and no database code: the HTTP layer asks, the stores
// answer through the interfaces below.
package konkursbehandling

import (
	"context"
	"errors"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
)

// Bankruptcies confirms a party's bankruptcy (Gate implements it; a tracing decorator may wrap
// it): Check reads the party's notices, CheckNotices is given them.
type Bankruptcies interface {
	Check(ctx context.Context, party string) (konkursvarsel.DebtorState, error)
	CheckNotices(ctx context.Context, party string, notices []konkursvarsel.Notice) (konkursvarsel.DebtorState, error)
}

// Accounts is what the decision reads of the bank data (accounts.Store implements it).
type Accounts interface {
	AccountsWithRole(ctx context.Context, party string) ([]accounts.StoredAccount, error)
	AccountByReference(ctx context.Context, ref string) (accounts.StoredAccount, error)
}

// OwnerNotices reads an account together with the notices about every party that was ever its
// primary owner, keyed by party (each party's list as NoticeStore.NoticesFor gives it). The
// PostgreSQL store does it in one round trip instead of two (issue #15).
type OwnerNotices interface {
	AccountWithOwnerNotices(ctx context.Context, ref string) (accounts.StoredAccount, map[string][]konkursvarsel.Notice, error)
}

// Decider makes the decision for steps 2a and 2b.
type Decider struct {
	Bankruptcies Bankruptcies
	Accounts     Accounts
	// OwnerNotices, when set, is how step 2b reads its account and the owners' notices; without
	// it the account is read, then each owner's notices through Bankruptcies.Check. The rules
	// applied are the same either way.
	OwnerNotices OwnerNotices
}

// Decision is the legal basis of one request, as far as it was established: the party whose
// data it is, the bankruptcy (notice uuid and kjennelsesdato) that justifies it, and the
// requested period. A refused request carries what was found before the refusal, for the audit
// log.
type Decision struct {
	Party      string
	Bankruptcy konkursvarsel.DebtorState
	Period     civil.Period
}

// ForParty decides step 2a: party must have an open bankruptcy (else *RefusedError, 403), the
// period must lie in its window (else *WindowError, 400), and the accounts listed are those
// party was primary owner of on at least one day of the period, each clipped to party's spells.
func (d *Decider) ForParty(ctx context.Context, party string, p civil.Period) (Decision, []accounts.Holding, error) {
	dec := Decision{Party: party, Period: p}
	st, err := d.Bankruptcies.Check(ctx, party)
	dec.Bankruptcy = st
	if err != nil {
		return dec, nil, err
	}
	if err := CheckWindow(p, st.Kjennelsesdato); err != nil {
		return dec, nil, err
	}
	out, err := Holdings(ctx, d.Accounts, party, p)
	return dec, out, err
}

// ForAccount decides step 2b. The request carries no PartyID, so the party is re-derived from the
// account (konkursbehandling-rules.md §5.2 item 6): among the account's primary owners on some day
// of the period, the first with an open bankruptcy is the party; the period must lie in its
// window, and the holding is clipped to its spells. A co-owner or next owner who is not bankrupt
// is never the party, so a joint account is served for the debtor's part only.
//
// Refusals: unknown reference, no primary owner on any day of the period, or none with a notice
// at all → not found (404, the answer does not reveal that the account exists); an owner in the period whose bankruptcy
// ended → *RefusedError (403, test-cases.md K-10); a fromDate outside the window → *WindowError.
func (d *Decider) ForAccount(ctx context.Context, ref string, p civil.Period) (Decision, accounts.Holding, error) {
	dec := Decision{Period: p}
	a, check, err := d.account(ctx, ref)
	if err != nil {
		return dec, accounts.Holding{}, err
	}
	var refused error
	for _, owner := range PrimaryOwners(a) {
		h, inPeriod := Holding(a, owner, p)
		if !inPeriod {
			continue // an owner before or after the period is no party of this request
		}
		st, err := check(owner)
		var re *RefusedError
		switch {
		case errors.As(err, &re):
			if re.State.Status != konkursvarsel.StatusNone && refused == nil {
				refused, dec.Party, dec.Bankruptcy = err, owner, st
			}
			continue
		case err != nil:
			return dec, accounts.Holding{}, err
		}
		dec.Party, dec.Bankruptcy = owner, st
		if err := CheckWindow(p, st.Kjennelsesdato); err != nil {
			return dec, accounts.Holding{}, err
		}
		return dec, h, nil
	}
	if refused != nil {
		return dec, accounts.Holding{}, refused
	}
	return dec, accounts.Holding{}, accounts.ErrAccountNotFound
}

// account reads a step 2b account and returns it with how its owners' bankruptcies are checked:
// from the notices read with it (OwnerNotices), or each read when it is checked.
func (d *Decider) account(ctx context.Context, ref string) (accounts.StoredAccount, func(owner string) (konkursvarsel.DebtorState, error), error) {
	if d.OwnerNotices == nil {
		a, err := d.Accounts.AccountByReference(ctx, ref)
		return a, func(owner string) (konkursvarsel.DebtorState, error) { return d.Bankruptcies.Check(ctx, owner) }, err
	}
	a, notices, err := d.OwnerNotices.AccountWithOwnerNotices(ctx, ref)
	return a, func(owner string) (konkursvarsel.DebtorState, error) {
		return d.Bankruptcies.CheckNotices(ctx, owner, notices[owner])
	}, err
}

// PrimaryOwners lists every party that has ever been primary owner of a, in the order of the
// bank data (the ownership rule of every service: only what the party owned leaves).
func PrimaryOwners(a accounts.StoredAccount) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range a.Roles {
		if r.Role == accounts.RolePrimaryOwner && !seen[r.PartyID] {
			out = append(out, r.PartyID)
			seen[r.PartyID] = true
		}
	}
	return out
}
