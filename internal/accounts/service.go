package accounts

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	openapi_types "github.com/oapi-codegen/runtime/types"
)

// MinPageSize is the smallest transaction page the standard allows ("at least 1000").
const MinPageSize = 1000

// Service answers the three Konkursbehandling endpoints from a Store with the period semantics of
// the common standard (kontrollinformasjon-api.md §3.4, §6). It returns every field the bank
// holds; internal/filter decides which of them leave.
type Service struct {
	Store    Store
	Loc      *time.Location // "today" and date boundaries: Europe/Oslo
	PageSize int
	Now      func() time.Time
}

// Page is one page of transactions.
type Page struct {
	Body dsop.Transactions
	// Next is where the following page starts; nil on the last page.
	Next *Position
}

// ListAccounts returns the accounts party owned as primary owner at some time in [from, to]. A
// disponent, secondary owner, guarantor or co-borrower relation never lists an account
// (konkursbehandling-rules.md §1; test-cases.md C-02, C-03).
func (s *Service) ListAccounts(ctx context.Context, party string, from, to civil.Date) (dsop.Accounts, error) {
	accts, err := s.Store.AccountsWithRole(ctx, party)
	if err != nil {
		return dsop.Accounts{}, fmt.Errorf("accounts of party: %w", err)
	}
	srv, err := s.Store.Servicer(ctx)
	if err != nil {
		return dsop.Accounts{}, fmt.Errorf("servicer: %w", err)
	}
	list := []dsop.Account{}
	for _, a := range accts {
		role, ok := OwnedBy(a, party, from, to)
		if !ok {
			continue
		}
		owner, err := s.role(ctx, role)
		if err != nil {
			return dsop.Accounts{}, err
		}
		list = append(list, dsop.Account{
			Status:            ptr(a.Status),
			Servicer:          servicer(srv),
			AccountIdentifier: a.AccountNumber,
			AccountReference:  a.Reference,
			Type:              ptr(a.Type),
			Currency:          ptr(a.Currency),
			PrimaryOwner:      owner,
			Name:              nonEmpty(a.Name),
		})
	}
	// Deterministic order for reproducible answers and audit hashes.
	sort.Slice(list, func(i, j int) bool { return list[i].AccountReference < list[j].AccountReference })
	return dsop.Accounts{ResponseDetails: dsop.ResponseDetails{Status: dsop.Complete}, Accounts: &list}, nil
}

// OwnedBy returns party's primary-owner role on a in [from, to] (the latest such period, as the
// standard reports for accounts closed and reopened).
func OwnedBy(a StoredAccount, party string, from, to civil.Date) (Role, bool) {
	var best Role
	found := false
	for _, r := range a.Roles {
		if r.PartyID != party || r.Role != RolePrimaryOwner || !r.Period().Overlaps(from, to) {
			continue
		}
		if !found || r.StartDate.After(best.StartDate) {
			best, found = r, true
		}
	}
	return best, found
}

// PrimaryOwners lists every party that has ever owned a (step 2b carries no PartyID: the bank
// re-derives the party from the account, konkursbehandling-rules.md §5.2 item 6).
func PrimaryOwners(a StoredAccount) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range a.Roles {
		if r.Role == RolePrimaryOwner && !seen[r.PartyID] {
			out = append(out, r.PartyID)
			seen[r.PartyID] = true
		}
	}
	return out
}

// Resolve finds the account behind an accountReference.
func (s *Service) Resolve(ctx context.Context, ref string) (StoredAccount, error) {
	return s.Store.AccountByReference(ctx, ref)
}

// Details returns the account with the balances that apply to the period: for a period ending
// today the booked and the available balance now; for a period ending earlier the booked balance
// at the end of toDate; none at all for an account closed in the period (FS FAQ), and none for
// an account type without balance.
func (s *Service) Details(ctx context.Context, a StoredAccount, party string, from, to civil.Date) (dsop.AccountDetails, error) {
	srv, err := s.Store.Servicer(ctx)
	if err != nil {
		return dsop.AccountDetails{}, fmt.Errorf("servicer: %w", err)
	}
	role, _ := OwnedBy(a, party, from, to)
	owner, err := s.role(ctx, role)
	if err != nil {
		return dsop.AccountDetails{}, err
	}
	balances := s.balances(a, to)
	d := dsop.AccountDetail{
		Status:            ptr(a.Status),
		Servicer:          servicer(srv),
		AccountIdentifier: a.AccountNumber,
		AccountReference:  a.Reference,
		Type:              ptr(a.Type),
		Currency:          ptr(a.Currency),
		Name:              nonEmpty(a.Name),
		Balances:          &balances,
		PrimaryOwner:      owner,
		StartDate:         date(a.StartDate),
		EndDate:           date(a.EndDate),
	}
	return dsop.AccountDetails{ResponseDetails: s.details(a, from), Account: &d}, nil
}

func (s *Service) balances(a StoredAccount, to civil.Date) []dsop.Balance {
	out := []dsop.Balance{}
	if a.Type == dsop.AccountWithoutBalance || (!a.EndDate.IsZero() && !a.EndDate.After(to)) {
		return out
	}
	b := a.Balances
	mk := func(typ dsop.BalanceType, m Money, at time.Time) dsop.Balance {
		bal := dsop.Balance{
			Type:                 ptr(typ),
			Amount:               ptr(m.Amount),
			CreditDebitIndicator: ptr(m.CreditDebitIndicator),
			Registered:           ptr(at),
			Currency:             ptr(a.Currency),
			CreditLineIncluded:   ptr(false),
		}
		if cl := b.CreditLine; cl != nil {
			bal.CreditLineIncluded = ptr(cl.Included)
			bal.CreditLineAmount = ptr(cl.Amount)
			bal.CreditLineCurrency = ptr(cl.Currency)
		}
		return bal
	}
	today := civil.Today(s.now(), s.Loc)
	if to == today {
		if c := b.Current; c != nil {
			out = append(out, mk(dsop.BookedBalance, c.Booked, c.Registered), mk(dsop.AvailableBalance, c.Available, c.Registered))
		}
		return out
	}
	var best *HistoricBalance
	for i := range b.History {
		h := &b.History[i]
		if !h.Date.After(to) && (best == nil || h.Date.After(best.Date)) {
			best = h
		}
	}
	if best != nil {
		endOfDay := to.AddDate(0, 0, 1).In(s.Loc).Add(-time.Second)
		out = append(out, mk(dsop.BookedBalance, best.Money, endOfDay))
	}
	return out
}

// Transactions returns the page of transactions in [from, to] (both inclusive, Norwegian dates)
// that starts after pos.
func (s *Service) Transactions(ctx context.Context, a StoredAccount, from, to civil.Date, after *Position) (Page, error) {
	size := max(s.PageSize, MinPageSize)
	list := make([]dsop.Transaction, 0, min(size, 1024))
	// One extra row tells whether another page exists without a count query.
	err := s.Store.Transactions(ctx, a.Reference, from.In(s.Loc), to.AddDate(0, 0, 1).In(s.Loc), after, size+1,
		func(t dsop.Transaction) error {
			list = append(list, t)
			return nil
		})
	if err != nil {
		return Page{}, fmt.Errorf("read transactions: %w", err)
	}
	var next *Position
	if len(list) > size {
		list = list[:size]
		last := list[size-1]
		at, _ := EffectiveTime(last)
		next = &Position{Time: at.UTC(), ID: last.TransactionIdentifier}
	}
	return Page{Body: dsop.Transactions{ResponseDetails: s.details(a, from), Transactions: &list}, Next: next}, nil
}

// details says "partial" when part of the requested period is archived offline, so that the
// consumer knows to ask for it by other means (kontrollinformasjon-api.md §3.5).
func (s *Service) details(a StoredAccount, from civil.Date) dsop.ResponseDetails {
	if !a.ArchivedBefore.IsZero() && from.Before(a.ArchivedBefore) {
		msg := fmt.Sprintf("Data for this account before %s are archived offline and not delivered through the API; they can be requested from the bank by digital letter.", a.ArchivedBefore)
		return dsop.ResponseDetails{Status: dsop.Partial, Message: &msg}
	}
	return dsop.ResponseDetails{Status: dsop.Complete}
}

func (s *Service) role(ctx context.Context, r Role) (*dsop.AccountRole, error) {
	if r.PartyID == "" {
		return nil, nil
	}
	p, _, err := s.Store.Party(ctx, r.PartyID)
	if err != nil {
		return nil, fmt.Errorf("party: %w", err)
	}
	out := &dsop.AccountRole{
		Identifier: identifier(r.PartyID, p.CountryOfResidence),
		Name:       nonEmpty(p.Name),
		StartDate:  date(r.StartDate),
		EndDate:    date(r.EndDate),
	}
	if r.Permission != "" {
		out.Permission = ptr(r.Permission)
	}
	return out, nil
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func servicer(s Servicer) *dsop.FinancialInstitution {
	return &dsop.FinancialInstitution{Identifier: identifier(s.OrganisationNumber, s.CountryOfResidence), Name: nonEmpty(s.Name)}
}

func identifier(id, country string) *dsop.Identifier {
	typ := dsop.CountryIdentificationCode
	if len(id) == 11 {
		typ = dsop.NationalIdentityNumber
	}
	return &dsop.Identifier{Value: id, Type: typ, CountryOfResidence: nonEmpty(country)}
}

func date(d civil.Date) *openapi_types.Date {
	if d.IsZero() {
		return nil
	}
	return &openapi_types.Date{Time: d.In(time.UTC)}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func ptr[T any](v T) *T { return &v }

// AccountsToBlock lists the account numbers party owns as primary owner today, in accounts that
// are not closed: what the bank blocks on an aapning (and reopens on a sletting).
func (s *Service) AccountsToBlock(ctx context.Context, party string) ([]string, error) {
	accts, err := s.Store.AccountsWithRole(ctx, party)
	if err != nil {
		return nil, fmt.Errorf("accounts of party: %w", err)
	}
	today := civil.Today(s.now(), s.Loc)
	var out []string
	for _, a := range accts {
		if !a.EndDate.IsZero() && a.EndDate.Before(today) {
			continue
		}
		if _, ok := OwnedBy(a, party, today, today); ok {
			out = append(out, a.AccountNumber)
		}
	}
	sort.Strings(out)
	return out, nil
}
