package accounts

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

func TestDecodeBankData_DemoBankIsValid(t *testing.T) {
	bd, err := DecodeBankData(demo.BankData())
	require.NoError(t, err)
	require.NotEmpty(t, bd.Accounts)
}

func TestDecodeBankData_ReportsEveryProblemWithItsLocation(t *testing.T) {
	doc := `{"servicer":{"organisationNumber":"123","name":"X"},
	 "parties":[{"id":"910336819","name":"A"},{"id":"910336819","name":"dup"},{"id":"08086001472","name":"bad"}],
	 "accounts":[{"accountNumber":"1","type":"weird","currency":"nok","status":"open","startDate":"2020-01-01","endDate":"2019-01-01",
	   "roles":[{"partyId":"999999999","role":"owner","startDate":"2020-01-01"}],
	   "balances":{"current":{"booked":{"amount":"-1","creditDebitIndicator":"credit"},"available":{"amount":"1e3","creditDebitIndicator":"plus"},"registered":"2020-01-01T00:00:00Z"}},
	   "transactions":[{"transactionIdentifier":"t1"},{"transactionIdentifier":"t1","amount":1.5,"creditDebitIndicator":"credit","status":"booked","bookingDate":"2020-01-01T00:00:00Z"}]}]}`
	_, err := DecodeBankData(strings.NewReader(doc))
	require.Error(t, err)
	for _, loc := range []string{
		"servicer.organisationNumber", "parties[1].id", "parties[2].id", "accounts[0].type", "accounts[0].currency",
		"accounts[0].status", "accounts[0].endDate", "accounts[0].roles[0].partyId", "accounts[0].roles[0].role",
		"accounts[0].balances.current.booked.amount", "accounts[0].balances.current.available.amount",
		"accounts[0].balances.current.available.creditDebitIndicator", "accounts[0].transactions[0]:",
		"accounts[0].transactions[0].amount", "accounts[0].transactions[1].transactionIdentifier",
	} {
		require.Contains(t, err.Error(), loc)
	}
}

func TestDecodeBankData_RefusesUnknownFields(t *testing.T) {
	_, err := DecodeBankData(strings.NewReader(`{"servicer":{"organisationNumber":"910336819"},"parties":[],"accounts":[],"extra":1}`))
	require.ErrorContains(t, err, "extra")
}

func TestCursor_RoundTripAndBinding(t *testing.T) {
	c := NewCursorCodec([]byte("0123456789abcdef0123456789abcdef"))
	from, to := civil.MustParse("2020-01-01"), civil.MustParse("2020-12-31")
	pos := Position{Time: time.Date(2020, 5, 5, 10, 0, 0, 123, time.UTC), ID: "tx-1"}
	cur := c.Encode("ref", from, to, pos)
	got, err := c.Decode("ref", from, to, cur)
	require.NoError(t, err)
	require.True(t, pos.Time.Equal(got.Time))
	require.Equal(t, pos.ID, got.ID)
	for _, bad := range []func() (Position, error){
		func() (Position, error) { return c.Decode("other", from, to, cur) },
		func() (Position, error) { return c.Decode("ref", to, to, cur) },
		func() (Position, error) { return c.Decode("ref", from, to, cur[:len(cur)-1]+"A") },
		func() (Position, error) { return c.Decode("ref", from, to, "") },
		func() (Position, error) {
			return NewCursorCodec([]byte("another secret of 32 bytes......")).Decode("ref", from, to, cur)
		},
	} {
		_, err := bad()
		require.ErrorIs(t, err, ErrBadCursor)
	}
}

func TestReferencer_StableOpaqueAndKeyed(t *testing.T) {
	r := NewReferencer([]byte("0123456789abcdef0123456789abcdef"))
	require.Equal(t, r.Reference("12345678903"), r.Reference("12345678903"))
	require.NotEqual(t, r.Reference("12345678903"), r.Reference("12345678904"))
	require.NotEqual(t, r.Reference("12345678903"), NewReferencer([]byte("another secret of 32 bytes......")).Reference("12345678903"))
	require.NotContains(t, r.Reference("12345678903"), "12345678903")
}

func testService(t *testing.T, roles []Role, endDate string) (*Service, StoredAccount) {
	t.Helper()
	amt := json.Number("1.00")
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	a := Account{AccountNumber: "12345678903", Type: dsop.SalaryAccount, Currency: "NOK", Status: dsop.Disabled,
		StartDate: civil.MustParse("2015-01-01"), Roles: roles,
		Balances: Balances{Current: &CurrentBalance{Booked: Money{"10.00", dsop.CreditOrDebitCredit}, Available: Money{"5.00", dsop.CreditOrDebitCredit}, Registered: at}},
		Transactions: []dsop.Transaction{{TransactionIdentifier: "t", BookingDate: &at, Amount: &amt,
			CreditDebitIndicator: ptr(dsop.CreditOrDebitDebit), Status: ptr(dsop.TransactionStatusBooked)}},
	}
	if endDate != "" {
		a.EndDate = civil.MustParse(endDate)
	}
	bd := &BankData{Servicer: Servicer{OrganisationNumber: "910336819"}, Parties: []Party{{ID: "08086001471"}, {ID: "20020101351"}}, Accounts: []Account{a}}
	require.NoError(t, bd.Validate())
	oslo, _ := time.LoadLocation("Europe/Oslo")
	s := &Service{Store: NewMemoryStore(bd, NewReferencer([]byte("0123456789abcdef0123456789abcdef"))), Loc: oslo,
		Now: func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, oslo) }}
	accts, err := s.Store.AccountsWithRole(context.Background(), roles[0].PartyID)
	require.NoError(t, err)
	return s, accts[0]
}

// holding is the whole of [from, to] for a's first role, as the decision would clip it for an
// owner of the whole period (internal/konkursbehandling tests the clipping itself).
func holding(a StoredAccount, from, to string) Holding {
	return Holding{Account: a, Owner: a.Roles[0], Spells: []civil.Period{{From: civil.MustParse(from), To: civil.MustParse(to)}}}
}

func TestService_ListsTheHoldingsWithTheDebtorsSpellAsPrimaryOwner(t *testing.T) {
	d := civil.MustParse
	s, a := testService(t, []Role{
		{PartyID: "08086001471", Role: RolePrimaryOwner, StartDate: d("2015-01-01"), EndDate: d("2020-12-31")},
		{PartyID: "20020101351", Role: RolePrimaryOwner, StartDate: d("2021-01-01")},
	}, "")
	list, err := s.ListAccounts(context.Background(), []Holding{holding(a, "2020-12-31", "2026-11-23")})
	require.NoError(t, err)
	require.Len(t, *list.Accounts, 1)
	owner := (*list.Accounts)[0].PrimaryOwner
	require.Equal(t, "2015-01-01", owner.StartDate.String())
	require.Equal(t, "2020-12-31", owner.EndDate.String())
	require.Equal(t, dsop.NationalIdentityNumber, owner.Identifier.Type)
	list, err = s.ListAccounts(context.Background(), nil)
	require.NoError(t, err)
	require.NotNil(t, list.Accounts)
	require.Empty(t, *list.Accounts, "no holdings: an empty list, never null")
}

func TestService_BalancesFollowThePeriodEnd(t *testing.T) {
	d := civil.MustParse
	ctx := context.Background()
	owner := []Role{{PartyID: "08086001471", Role: RolePrimaryOwner, StartDate: d("2015-01-01")}}
	s, a := testService(t, owner, "")
	det, err := s.Details(ctx, holding(a, "2025-11-23", "2026-11-23"), d("2026-11-23"))
	require.NoError(t, err)
	require.Len(t, *det.Account.Balances, 2)
	det, err = s.Details(ctx, holding(a, "2025-11-23", "2026-11-22"), d("2026-11-22"))
	require.NoError(t, err)
	require.Empty(t, *det.Account.Balances, "no history kept: nothing to report for a past date")

	s, a = testService(t, owner, "2026-01-31")
	det, err = s.Details(ctx, holding(a, "2025-11-23", "2026-11-23"), d("2026-11-23"))
	require.NoError(t, err)
	require.Empty(t, *det.Account.Balances, "closed in the period")
}

func TestService_TransactionsPeriodUsesNorwegianDates(t *testing.T) {
	d := civil.MustParse
	s, a := testService(t, []Role{{PartyID: "08086001471", Role: RolePrimaryOwner, StartDate: d("2015-01-01")}}, "")
	ctx := context.Background()
	// Booked 2024-03-01 12:00 UTC = 13:00 Oslo.
	p, err := s.Transactions(ctx, holding(a, "2024-03-01", "2024-03-01"), nil)
	require.NoError(t, err)
	require.Len(t, *p.Body.Transactions, 1)
	p, err = s.Transactions(ctx, holding(a, "2024-03-02", "2024-03-03"), nil)
	require.NoError(t, err)
	require.Empty(t, *p.Body.Transactions)
	require.Nil(t, p.Next)
}

// A sealed reference is stable, opaque (the number is not in it) and opens only with its key.
func TestSealedReferencer_OpensOnlyItsOwnReferences(t *testing.T) {
	r := NewSealedReferencer([]byte("0123456789abcdef0123456789abcdef"))
	ref := r.Reference("15039285662")
	require.Equal(t, ref, r.Reference("15039285662"), "stable")
	require.NotEqual(t, ref, r.Reference("15039285663"))
	require.NotContains(t, ref, "15039285662")
	n, ok := r.Open(ref)
	require.True(t, ok)
	require.Equal(t, "15039285662", n)
	other := NewSealedReferencer([]byte("another server's secret, 32 bytes"))
	for _, bad := range []string{other.Reference("15039285662"), "", "nope", ref[:len(ref)-1] + map[bool]string{true: "A", false: "B"}[ref[len(ref)-1] != 'A'], NewReferencer([]byte("0123456789abcdef0123456789abcdef")).Reference("15039285662")} {
		_, ok := r.Open(bad)
		require.False(t, ok, bad)
	}
}
