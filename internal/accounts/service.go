package accounts

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/buffers"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	openapi_types "github.com/oapi-codegen/runtime/types"
)

// MinPageSize is the smallest transaction page the standard allows ("at least 1000").
const MinPageSize = 1000

// Service answers the three Konkursbehandling endpoints from a Store with the period semantics of
// the common standard (kontrollinformasjon-api.md §3.4, §6). It returns every field the bank
// holds; internal/filter decides which of them leave.
type Service struct {
	Store Store
	// DeliveryPolicy is the fingerprint of the field policy the server delivers with
	// (filter.Policy.Fingerprint); with a DeliveredStore, pages are read in delivered form.
	DeliveryPolicy string
	Loc            *time.Location // "today" and date boundaries: Europe/Oslo
	PageSize       int
	Now            func() time.Time
	// Pages, when set, lends delivered-form pages memory of earlier ones; whoever is done with a
	// page's body gives it back with Page.Delivered.Release (issue #15).
	Pages *buffers.Pool
}

// Page is one page of transactions.
type Page struct {
	Body dsop.Transactions
	// Delivered, when not nil, holds the page's transactions in delivered form, spliced
	// (filter.Policy.TransactionsPage makes the body of them and Body); Body.Transactions is then
	// nil.
	Delivered *filter.Splice
	// Next is where the following page starts; nil on the last page.
	Next *Position
}

// Holding is what a Konkursbehandling decision lets leave of one account
// (internal/konkursbehandling decides it; konkursbehandling-rules.md §4.1 "Ownership clipping").
type Holding struct {
	Account StoredAccount
	// Owner is the debtor's role shown as primaryOwner: its latest ownership spell touching the
	// period, with the start and end dates the bank data records.
	Owner Role
	// Spells are the delivery spells: the sub-periods of the request in which the debtor was
	// primary owner. Sorted, disjoint, inside the request period, never empty.
	Spells []civil.Period
}

// last is the delivery spell that ends last.
func (h Holding) last() civil.Period { return h.Spells[len(h.Spells)-1] }

// ListAccounts answers step 2a with the accounts of the holdings, each with the debtor as
// primaryOwner. Which accounts are listed is the decision's (a disponent, secondary owner,
// guarantor or co-borrower relation never lists an account: test-cases.md C-02, C-03).
func (s *Service) ListAccounts(ctx context.Context, holdings []Holding) (dsop.Accounts, error) {
	srv, err := s.Store.Servicer(ctx)
	if err != nil {
		return dsop.Accounts{}, fmt.Errorf("servicer: %w", err)
	}
	list := make([]dsop.Account, 0, len(holdings))
	for _, h := range holdings {
		a := h.Account
		owner, err := s.role(ctx, h.Owner)
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

// Resolve finds the account behind an accountReference.
func (s *Service) Resolve(ctx context.Context, ref string) (StoredAccount, error) {
	return s.Store.AccountByReference(ctx, ref)
}

// Details returns the account with the balances that apply at the end of what the debtor held:
//   - the debtor's last delivery spell reaches toDate: for a toDate of today the booked and the
//     available balance now, for an earlier toDate the booked balance at the end of toDate;
//   - the debtor's last spell ended before toDate (the account changed hands): the booked
//     balance at the end of that spell if the bank data has one on or before that day, otherwise
//     none — never the next owner's current or available balance (konkursbehandling-rules.md
//     §4.1);
//   - no balance for an account closed by then (FS FAQ), nor for an account type without balance.
func (s *Service) Details(ctx context.Context, h Holding, to civil.Date) (dsop.AccountDetails, error) {
	srv, err := s.Store.Servicer(ctx)
	if err != nil {
		return dsop.AccountDetails{}, fmt.Errorf("servicer: %w", err)
	}
	owner, err := s.role(ctx, h.Owner)
	if err != nil {
		return dsop.AccountDetails{}, err
	}
	a := h.Account
	balances := s.balances(a, h.last().To, to)
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
	return dsop.AccountDetails{ResponseDetails: s.details(a, h.Spells[0].From), Account: &d}, nil
}

// balances are those at the end of day end, the last day the debtor held the account in a
// request whose period ends on to.
func (s *Service) balances(a StoredAccount, end, to civil.Date) []dsop.Balance {
	out := []dsop.Balance{}
	if a.Type == dsop.AccountWithoutBalance || (!a.EndDate.IsZero() && !a.EndDate.After(end)) {
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
	if end == to && to == today {
		if c := b.Current; c != nil {
			out = append(out, mk(dsop.BookedBalance, c.Booked, c.Registered), mk(dsop.AvailableBalance, c.Available, c.Registered))
		}
		return out
	}
	var best *HistoricBalance
	for i := range b.History {
		h := &b.History[i]
		if !h.Date.After(end) && (best == nil || h.Date.After(best.Date)) {
			best = h
		}
	}
	if best != nil {
		endOfDay := end.AddDate(0, 0, 1).In(s.Loc).Add(-time.Second)
		out = append(out, mk(dsop.BookedBalance, best.Money, endOfDay))
	}
	return out
}

// Transactions returns the page of the holding's transactions that starts after pos: those
// whose effective time falls on a day of one of its delivery spells (Norwegian dates, both ends
// inclusive), in paging order. Each spell is one keyset query on the store, so a page may span a
// gap in the debtor's ownership without a gap or a duplicate, and nothing dated in the gap — when
// someone else owned the account — is read.
//
// When the store keeps delivered forms made under DeliveryPolicy, the page holds those, spliced
// as they are read (Page.Delivered), and Body.Transactions is nil; otherwise Body.Transactions
// holds the stored transactions, for the field policy to filter.
func (s *Service) Transactions(ctx context.Context, h Holding, after *Position) (Page, error) {
	size := max(s.PageSize, MinPageSize)
	if ds, ok := s.Store.(DeliveredStore); ok && s.DeliveryPolicy != "" {
		splice := filter.NewSplice(size, s.Pages)
		next, err := readSpells(s, size, h, after, splice.Add, func(from, until time.Time, want int, add func(Position, filter.Delivered)) error {
			return ds.DeliveredTransactions(ctx, h.Account.Reference, from, until, after, want, s.DeliveryPolicy, func(p Position, d filter.Delivered) error {
				add(p, d)
				return nil
			})
		})
		if !errors.Is(err, ErrNoDeliveredForms) {
			if err != nil {
				return Page{}, fmt.Errorf("read transactions: %w", err)
			}
			return Page{Body: dsop.Transactions{ResponseDetails: s.details(h.Account, h.Spells[0].From)}, Delivered: splice, Next: next}, nil
		}
	}
	list := make([]dsop.Transaction, 0, min(size, 1024))
	next, err := readSpells(s, size, h, after, func(t dsop.Transaction) { list = append(list, t) }, func(from, until time.Time, want int, add func(Position, dsop.Transaction)) error {
		return s.Store.Transactions(ctx, h.Account.Reference, from, until, after, want, func(t dsop.Transaction) error {
			at, _ := EffectiveTime(t)
			add(Position{Time: at.UTC(), ID: t.TransactionIdentifier}, t)
			return nil
		})
	})
	if err != nil {
		return Page{}, fmt.Errorf("read transactions: %w", err)
	}
	return Page{Body: dsop.Transactions{ResponseDetails: s.details(h.Account, h.Spells[0].From), Transactions: &list}, Next: next}, nil
}

// readSpells reads one page of at most size transactions over the holding's delivery spells with
// read (one keyset query per spell), hands each to keep in order, and says where the next page
// starts.
func readSpells[T any](s *Service, size int, h Holding, after *Position, keep func(T), read func(from, until time.Time, want int, add func(Position, T)) error) (*Position, error) {
	n := 0
	var last Position
	add := func(p Position, t T) {
		if n < size {
			keep(t)
			last = p
		}
		n++
	}
	for _, sp := range h.Spells {
		// One extra row tells whether another page exists without a count query.
		want := size + 1 - n
		if want <= 0 {
			break
		}
		from, until := sp.From.In(s.Loc), sp.To.AddDate(0, 0, 1).In(s.Loc)
		if after != nil && !after.Time.Before(until) {
			continue // the cursor is past this spell
		}
		if err := read(from, until, want, add); err != nil {
			return nil, err
		}
	}
	if n > size {
		return &last, nil
	}
	return nil, nil
}

// Roles are the account's roles (its owners, holders of power of attorney, …) in the days the
// party held the account: each role overlapping one of the holding's spells, as the bank data
// records it. Only a service that allows the Roles endpoint asks (dsopservice).
func (s *Service) Roles(ctx context.Context, h Holding) (dsop.Roles, error) {
	roles := []dsop.AccountRole{}
	for _, r := range h.Account.Roles {
		for _, sp := range h.Spells {
			if r.Period().Overlaps(sp.From, sp.To) {
				out, err := s.role(ctx, r)
				if err != nil {
					return dsop.Roles{}, err
				}
				roles = append(roles, *out)
				break
			}
		}
	}
	return dsop.Roles{ResponseDetails: s.details(h.Account, h.Spells[0].From), Roles: &roles}, nil
}

// Cards answers the Cards endpoint for a service that allows it: the bank data format holds no
// payment cards, so the answer says it is partial rather than claim there are none.
func (s *Service) Cards(Holding) dsop.Cards {
	msg := "This bank's DSOP data holds no payment cards; ask the bank by digital letter."
	return dsop.Cards{ResponseDetails: dsop.ResponseDetails{Status: dsop.Partial, Message: &msg}, PaymentCards: &[]dsop.PaymentCard{}}
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
		for _, r := range a.Roles {
			if r.PartyID == party && r.Role == RolePrimaryOwner && r.Period().Overlaps(today, today) {
				out = append(out, a.AccountNumber)
				break
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
