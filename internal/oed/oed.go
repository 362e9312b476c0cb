// Package oed is the decision of the DSOP service Oppgjør etter dødsfall (dsopservice.OED;
// dsop_v2oed_løsningsbeskrivelse.md): Digdir may see the accounts a deceased person owned, while
// they owned them, from 3 months before the date of death until today. The gate is the bank's
// own knowledge of the death (Deaths: today the bank data's dateOfDeath; a FREG lookup can
// implement it later); the ownership rule is the one every service shares
// (konkursbehandling.Holding). Like the Konkursbehandling decision it imports no HTTP and no
// database code.
package oed

import (
	"context"
	"fmt"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
)

// Deaths says whether the bank knows a person as deceased, and since when.
type Deaths interface {
	DateOfDeath(ctx context.Context, party string) (date civil.Date, deceased bool, err error)
}

// Parties is what BankDeaths reads (accounts.Store implements it).
type Parties interface {
	Party(ctx context.Context, id string) (p accounts.Party, ok bool, err error)
}

// BankDeaths reads the date of death from the bank data (parties[].dateOfDeath).
type BankDeaths struct{ Parties Parties }

// DateOfDeath implements Deaths.
func (b BankDeaths) DateOfDeath(ctx context.Context, party string) (civil.Date, bool, error) {
	p, ok, err := b.Parties.Party(ctx, party)
	if err != nil || !ok {
		return civil.Date{}, false, err
	}
	return p.DateOfDeath, !p.DateOfDeath.IsZero(), nil
}

// NotDeceasedError refuses a party the bank does not know as dead: 403 ACC-011.
type NotDeceasedError struct{}

func (NotDeceasedError) Error() string {
	return "the bank does not know this party as deceased; Oppgjør etter dødsfall serves only the accounts of a deceased person (the bank's date of death, from its own systems or FREG)"
}

// Decider makes the decision of steps 2a and 2b for Oppgjør etter dødsfall.
type Decider struct {
	Deaths   Deaths
	Accounts konkursbehandling.Accounts
	// Service gives the window (default dsopservice.OED).
	Service dsopservice.Service
}

func (d *Decider) window() dsopservice.Window {
	if d.Service.Name == "" {
		return dsopservice.OED().Window
	}
	return d.Service.Window
}

// ForParty decides step 2a: the party must be deceased (else NotDeceasedError, 403), the period
// must lie in the window from its date of death (else *dsopservice.WindowError, 400), and the
// accounts listed are those it owned on at least one day of the period, each clipped to its
// ownership.
func (d *Decider) ForParty(ctx context.Context, party string, p civil.Period) (konkursbehandling.Decision, []accounts.Holding, error) {
	dec := konkursbehandling.Decision{Party: party, Period: p}
	died, deceased, err := d.Deaths.DateOfDeath(ctx, party)
	if err != nil {
		return dec, nil, fmt.Errorf("date of death: %w", err)
	}
	if !deceased {
		return dec, nil, NotDeceasedError{}
	}
	if err := d.window().Check(p, died); err != nil {
		return dec, nil, err
	}
	out, err := konkursbehandling.Holdings(ctx, d.Accounts, party, p)
	return dec, out, err
}

// ForAccount decides step 2b: among the account's primary owners in the period, the first the
// bank knows as deceased is the party; the period must lie in its window and the holding is
// clipped to its ownership. An account with no deceased owner in the period is not found (404:
// the answer does not reveal that it exists).
func (d *Decider) ForAccount(ctx context.Context, ref string, p civil.Period) (konkursbehandling.Decision, accounts.Holding, error) {
	dec := konkursbehandling.Decision{Period: p}
	a, err := d.Accounts.AccountByReference(ctx, ref)
	if err != nil {
		return dec, accounts.Holding{}, err
	}
	for _, owner := range konkursbehandling.PrimaryOwners(a) {
		h, inPeriod := konkursbehandling.Holding(a, owner, p)
		if !inPeriod {
			continue
		}
		died, deceased, err := d.Deaths.DateOfDeath(ctx, owner)
		if err != nil {
			return dec, accounts.Holding{}, fmt.Errorf("date of death: %w", err)
		}
		if !deceased {
			continue
		}
		dec.Party = owner
		if err := d.window().Check(p, died); err != nil {
			return dec, accounts.Holding{}, err
		}
		return dec, h, nil
	}
	return dec, accounts.Holding{}, accounts.ErrAccountNotFound
}
