// Package accounts is the bank's side of the data: the documented bank data file, the store that
// holds it, and the period semantics of the standard (which accounts a party owned in a period,
// which balance applies, which transactions fall in the window) in Service.
package accounts

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// BankData is the bank data file (schema: openapi/bank-data.yaml, manual: docs/bank-data.md).
type BankData struct {
	// Servicer is the bank itself, as accounts[].servicer.
	Servicer Servicer  `json:"servicer"`
	Parties  []Party   `json:"parties"`
	Accounts []Account `json:"accounts"`
}

// Servicer identifies the bank.
type Servicer struct {
	OrganisationNumber string `json:"organisationNumber"`
	Name               string `json:"name"`
	CountryOfResidence string `json:"countryOfResidence"`
}

// Party is a customer: a person (11-digit FNR/D-number) or an organisation (9 digits).
type Party struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	CountryOfResidence string `json:"countryOfResidence,omitempty"`
	// DateOfDeath is set when the bank knows the person is dead (its own systems, FREG events):
	// the gate and the window anchor of Oppgjør etter dødsfall (dsopservice.OED).
	DateOfDeath civil.Date `json:"dateOfDeath,omitzero"`
}

// RoleType is a party's relation to an account. Only primaryOwner makes an account the party's in
// Konkursbehandling; the others exist so that the bank's full picture can be loaded and the
// exclusions (disponent, guarantor, co-borrower) are visible in tests (test-cases.md C-02, C-03).
type RoleType string

// Role types.
const (
	RolePrimaryOwner   RoleType = "primaryOwner"
	RoleSecondaryOwner RoleType = "secondaryOwner"
	RoleDisponent      RoleType = "disponent"
	RoleGuarantor      RoleType = "guarantor"
	RoleCoBorrower     RoleType = "coBorrower"
)

// Role is one period in which a party held a role on an account.
type Role struct {
	PartyID    string                     `json:"partyId"`
	Role       RoleType                   `json:"role"`
	Permission dsop.AccountPermissionType `json:"permission,omitempty"`
	StartDate  civil.Date                 `json:"startDate"`
	EndDate    civil.Date                 `json:"endDate,omitzero"`
}

// Period is the role's validity; a zero EndDate means it is still held.
func (r Role) Period() civil.Period { return civil.Period{From: r.StartDate, To: r.EndDate} }

// Money is a non-negative amount with its sign in creditDebitIndicator, as on the wire.
type Money struct {
	Amount               json.Number        `json:"amount"`
	CreditDebitIndicator dsop.CreditOrDebit `json:"creditDebitIndicator"`
}

// Balances are what the bank knows of an account's balances.
type Balances struct {
	// Current is the balance at Registered: the booked and the available balance a request whose
	// period ends today receives.
	Current *CurrentBalance `json:"current,omitempty"`
	// History holds end-of-day booked balances; a period ending in the past gets the latest
	// entry on or before toDate.
	History []HistoricBalance `json:"history,omitempty"`
	// CreditLine, when present, is reported with every balance.
	CreditLine *CreditLine `json:"creditLine,omitempty"`
}

// CurrentBalance is the balance right now.
type CurrentBalance struct {
	Booked     Money     `json:"booked"`
	Available  Money     `json:"available"`
	Registered time.Time `json:"registered"`
}

// HistoricBalance is the booked balance at the end of Date.
type HistoricBalance struct {
	Date civil.Date `json:"date"`
	Money
}

// CreditLine is the account's credit line.
type CreditLine struct {
	Amount   json.Number `json:"amount"`
	Currency string      `json:"currency"`
	// Included says whether the credit line is part of the balance (creditLineIncluded).
	Included bool `json:"included"`
}

// Account is one account and everything the API can say about it.
type Account struct {
	AccountNumber string             `json:"accountNumber"`
	Type          dsop.AccountType   `json:"type"`
	Currency      string             `json:"currency"`
	Status        dsop.AccountStatus `json:"status"`
	// Name is the account's nickname; the delivery tables keep it from leaving by default.
	Name      string     `json:"name,omitempty"`
	StartDate civil.Date `json:"startDate"`
	EndDate   civil.Date `json:"endDate,omitzero"`
	// ArchivedBefore marks data before this date as held offline only: a request whose period
	// starts earlier is answered with responseDetails.status "partial" and a message.
	ArchivedBefore civil.Date         `json:"archivedBefore,omitzero"`
	Roles          []Role             `json:"roles"`
	Balances       Balances           `json:"balances"`
	Transactions   []dsop.Transaction `json:"transactions,omitempty"`
}

var (
	decimalRe  = regexp.MustCompile(`^(0|[1-9][0-9]{0,17})(\.[0-9]{1,6})?$`)
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
	countryRe  = regexp.MustCompile(`^[A-Z]{2}$`)
)

// DecodeBankData reads and validates a bank data file for the in-memory store, with the one
// reader every store uses (Stream): a file that can be read more than one way (a member twice,
// invalid UTF-8, a second document) is refused, never half-read. Every problem is reported with
// its location (for example /accounts/3/transactions/12), not only the first. To locate them by
// line and column too, check the file with CheckFile first.
func DecodeBankData(r io.Reader) (*BankData, error) {
	var bd BankData
	var problems []error
	var account Account
	pending := map[int][]dsop.Transaction{}
	err := Stream(r, func(e Element) error {
		decode := func(v any) {
			if err := strictJSON(e.Raw, v); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", e.Path, err))
			}
		}
		switch e.Kind {
		case "invalid":
			problems = append(problems, fmt.Errorf("%s: %s", e.Path, e.Problem))
		case "unknown":
			problems = append(problems, fmt.Errorf("%s: property %q is unsupported", e.Path, strings.TrimPrefix(e.Path, "/")))
		case "servicer":
			decode(&bd.Servicer)
		case "party":
			var p Party
			decode(&p)
			bd.Parties = append(bd.Parties, p)
		case "transaction":
			var t dsop.Transaction
			decode(&t)
			pending[e.Account] = append(pending[e.Account], t)
		case "account":
			account = Account{}
			decode(&account)
			account.Transactions = pending[e.Account]
			delete(pending, e.Account)
			bd.Accounts = append(bd.Accounts, account)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bank data: %w", err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("bank data: %w", errors.Join(problems...))
	}
	if err := bd.Validate(); err != nil {
		return nil, err
	}
	return &bd, nil
}

// Validate checks the whole file and returns every problem found, joined.
func (bd *BankData) Validate() error {
	v := NewValidator()
	v.Servicer(bd.Servicer)
	for i, p := range bd.Parties {
		v.Party(i, p)
	}
	for i, a := range bd.Accounts {
		for j, t := range a.Transactions {
			v.Transaction(i, j, t)
		}
		v.Account(i, a)
	}
	return v.Err()
}

// Validator holds the rules a schema cannot say (references between parties and roles, unique
// identifiers, dates in order, check digits), applied element by element so that a file can be
// checked as it streams past: the parties it has seen, the account numbers, and the transaction
// identifiers of the account being read.
type Validator struct {
	errs     []error
	parties  map[string]bool
	numbers  map[string]bool
	pending  []pendingRef // role references to parties not seen yet (parties after accounts)
	txIDs    map[string]bool
	txOfAcct int
}

type pendingRef struct{ loc, party string }

// NewValidator starts a check.
func NewValidator() *Validator {
	return &Validator{parties: map[string]bool{}, numbers: map[string]bool{}, txOfAcct: -1}
}

func (v *Validator) add(loc, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", loc, fmt.Sprintf(format, args...)))
}

// Servicer checks the bank itself.
func (v *Validator) Servicer(s Servicer) {
	if k, err := validation.ParsePartyID(s.OrganisationNumber); err != nil || k != validation.Organisation {
		v.add("servicer.organisationNumber", "must be the bank's 9-digit organisation number")
	}
	if s.CountryOfResidence != "" && !countryRe.MatchString(s.CountryOfResidence) {
		v.add("servicer.countryOfResidence", "must be an ISO 3166-1 alpha-2 code")
	}
}

// Party checks parties[i].
func (v *Validator) Party(i int, p Party) {
	loc := fmt.Sprintf("parties[%d]", i)
	if _, err := validation.ParsePartyID(p.ID); err != nil {
		v.add(loc+".id", "%v", err)
	}
	if v.parties[p.ID] {
		v.add(loc+".id", "duplicate party %s", validation.Mask(p.ID))
	}
	v.parties[p.ID] = true
	if p.CountryOfResidence != "" && !countryRe.MatchString(p.CountryOfResidence) {
		v.add(loc+".countryOfResidence", "must be an ISO 3166-1 alpha-2 code")
	}
	if k, err := validation.ParsePartyID(p.ID); err == nil && k == validation.Organisation && !p.DateOfDeath.IsZero() {
		v.add(loc+".dateOfDeath", "only a person (an 11-digit id) has a date of death")
	}
}

// Transaction checks accounts[i].transactions[j]; the transactions of an account come before
// the account itself (Account(i, …)).
func (v *Validator) Transaction(i, j int, t dsop.Transaction) {
	if v.txOfAcct != i {
		v.txIDs, v.txOfAcct = map[string]bool{}, i
	}
	tl := fmt.Sprintf("accounts[%d].transactions[%d]", i, j)
	if t.TransactionIdentifier == "" {
		v.add(tl+".transactionIdentifier", "is required")
	} else if v.txIDs[t.TransactionIdentifier] {
		v.add(tl+".transactionIdentifier", "duplicate within the account")
	}
	v.txIDs[t.TransactionIdentifier] = true
	if _, ok := EffectiveTime(t); !ok {
		v.add(tl, "needs bookingDate (booked) or registered (pending/info)")
	}
	if t.Amount == nil || !decimalRe.MatchString(string(*t.Amount)) {
		v.add(tl+".amount", "is required and must be a non-negative decimal number")
	}
	if t.CreditDebitIndicator == nil {
		v.add(tl+".creditDebitIndicator", "is required")
	}
	if t.Status == nil {
		v.add(tl+".status", "is required (booked, pending or info)")
	}
}

// Account checks accounts[i] apart from its transactions.
func (v *Validator) Account(i int, a Account) {
	loc := fmt.Sprintf("accounts[%d]", i)
	if a.AccountNumber == "" {
		v.add(loc+".accountNumber", "is required")
	} else if v.numbers[a.AccountNumber] {
		v.add(loc+".accountNumber", "duplicate account number")
	}
	v.numbers[a.AccountNumber] = true
	if !slices.Contains(accountTypes, a.Type) {
		v.add(loc+".type", "%q is not an AccountType of the standard", a.Type)
	}
	if !slices.Contains([]dsop.AccountStatus{dsop.Enabled, dsop.Disabled, dsop.Deleted}, a.Status) {
		v.add(loc+".status", "must be enabled, disabled or deleted")
	}
	if !currencyRe.MatchString(a.Currency) {
		v.add(loc+".currency", "must be an ISO 4217 code")
	}
	if a.StartDate.IsZero() {
		v.add(loc+".startDate", "is required")
	}
	if !a.EndDate.IsZero() && a.EndDate.Before(a.StartDate) {
		v.add(loc+".endDate", "is before startDate")
	}
	for j, r := range a.Roles {
		rl := fmt.Sprintf("%s.roles[%d]", loc, j)
		if !v.parties[r.PartyID] {
			v.pending = append(v.pending, pendingRef{rl + ".partyId", r.PartyID})
		}
		if !slices.Contains([]RoleType{RolePrimaryOwner, RoleSecondaryOwner, RoleDisponent, RoleGuarantor, RoleCoBorrower}, r.Role) {
			v.add(rl+".role", "unknown role %q", r.Role)
		}
		if r.StartDate.IsZero() {
			v.add(rl+".startDate", "is required")
		}
		if !r.EndDate.IsZero() && r.EndDate.Before(r.StartDate) {
			v.add(rl+".endDate", "is before startDate")
		}
		// One party's spells in one role must not overlap: two rows for the same days (with,
		// say, two permissions) say two things at once (issue #28).
		rTo := r.EndDate
		if rTo.IsZero() {
			rTo = civil.Date{Year: 9999, Month: 12, Day: 31} // still held
		}
		for k, o := range a.Roles[:j] {
			if o.PartyID == r.PartyID && o.Role == r.Role && !r.StartDate.IsZero() && !o.StartDate.IsZero() && o.Period().Overlaps(r.StartDate, rTo) {
				v.add(rl, "overlaps roles[%d] of the same party and role: give each day of a spell once", k)
			}
		}
	}
	checkMoney := func(l string, m Money) {
		if !decimalRe.MatchString(string(m.Amount)) {
			v.add(l+".amount", "must be a non-negative decimal number")
		}
		if m.CreditDebitIndicator != dsop.CreditOrDebitCredit && m.CreditDebitIndicator != dsop.CreditOrDebitDebit {
			v.add(l+".creditDebitIndicator", "must be credit or debit")
		}
	}
	if c := a.Balances.Current; c != nil {
		checkMoney(loc+".balances.current.booked", c.Booked)
		checkMoney(loc+".balances.current.available", c.Available)
		if c.Registered.IsZero() {
			v.add(loc+".balances.current.registered", "is required")
		}
	}
	for j, h := range a.Balances.History {
		checkMoney(fmt.Sprintf("%s.balances.history[%d]", loc, j), h.Money)
	}
	if cl := a.Balances.CreditLine; cl != nil {
		if !decimalRe.MatchString(string(cl.Amount)) {
			v.add(loc+".balances.creditLine.amount", "must be a non-negative decimal number")
		}
		if !currencyRe.MatchString(cl.Currency) {
			v.add(loc+".balances.creditLine.currency", "must be an ISO 4217 code")
		}
	}
}

// CheckAccount applies the rules of a bank data file to one account on its own (its roles'
// parties are not looked up): the live connector checks what the bank's core sends by them.
func CheckAccount(a Account) error {
	v := NewValidator()
	v.Account(0, a)
	return errors.Join(v.errs...)
}

// resolveExternal keeps, of the roles naming a party the file does not have, those naming no
// party known: a change set may give roles to customers the store already has.
func (v *Validator) resolveExternal(known func(ids []string) (map[string]bool, error)) error {
	var ids []string
	seen := map[string]bool{}
	for _, p := range v.pending {
		if !v.parties[p.party] && !seen[p.party] {
			seen[p.party] = true
			ids = append(ids, p.party)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	have, err := known(ids)
	if err != nil {
		return fmt.Errorf("look up the parties the change set names: %w", err)
	}
	kept := v.pending[:0]
	for _, p := range v.pending {
		if !have[p.party] {
			kept = append(kept, p)
		}
	}
	v.pending = kept
	return nil
}

// Err ends the check: every problem found, joined (nil when none).
func (v *Validator) Err() error {
	for _, p := range v.pending {
		if !v.parties[p.party] {
			v.add(p.loc, "party is not in parties[]")
		}
	}
	v.pending = nil
	return errors.Join(v.errs...)
}

var accountTypes = []dsop.AccountType{
	dsop.LoanAccount, dsop.SalaryAccount, dsop.CurrencyAccount, dsop.SavingsAccount, dsop.ClientAccount,
	dsop.TaxDeductionAccount, dsop.BusinessAccount, dsop.CreditCardAccount, dsop.PrepaidCardAccount,
	dsop.AccountWithoutBalance, dsop.OtherAccount,
}

// EffectiveTime is the instant that places a transaction in a period and in the paging order:
// the booking time of a booked transaction, otherwise (pending, info) when it was registered.
//
// It is kept to the microsecond, the precision PostgreSQL stores, so both stores order alike.
func EffectiveTime(t dsop.Transaction) (time.Time, bool) {
	booked := t.Status == nil || *t.Status == dsop.TransactionStatusBooked
	switch {
	case booked && t.BookingDate != nil:
		return t.BookingDate.UTC().Truncate(time.Microsecond), true
	case t.Registered != nil:
		return t.Registered.UTC().Truncate(time.Microsecond), true
	case t.BookingDate != nil:
		return t.BookingDate.UTC().Truncate(time.Microsecond), true
	}
	return time.Time{}, false
}
