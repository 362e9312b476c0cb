package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/filter"
)

// C-01: a bankrupt party without accounts gets an empty list, complete.
func TestAccounts_EmptyListForBankruptPartyWithoutAccounts(t *testing.T) {
	h := newHarness(t)
	rec := h.do(http.MethodGet, accountsURL("2017-07-03", today), h.headers(noAccounts))
	require.JSONEq(t, `{"responseDetails":{"status":"complete"},"accounts":[],
		"links":[{"rel":"self","href":"/accounts?OnlyPrimaryOwner=true&fromDate=2017-07-03&toDate=2026-11-23"}]}`, rec.Body.String())
}

// C-02, C-03, C-04, C-05, C-06, C-07.
func TestAccounts_OnlyOwnedAccountsWithMandatoryFields(t *testing.T) {
	h := newHarness(t)
	docs := schemas(t)
	for _, c := range []struct {
		party string
		want  []string
	}{
		{openOrg, []string{demoAccount(t, openOrg, dsop.BusinessAccount), demoAccount(t, openOrg, dsop.SavingsAccount)}},                    // not the account it is disponent on
		{guarantor, []string{demoAccount(t, guarantor, dsop.SavingsAccount), demoAccount(t, guarantor, dsop.SalaryAccount), pagingAccount}}, // not the loan it guarantees
		{openPerson, []string{demoAccount(t, openPerson, dsop.SalaryAccount), demoAccount(t, openPerson, dsop.CreditCardAccount)}},
	} {
		t.Run(c.party, func(t *testing.T) {
			rec := h.do(http.MethodGet, accountsURL(earliest, today), h.headers(c.party))
			requireValid(t, docs, "Accounts", rec.Body.Bytes())
			body := decode[dsop.Accounts](t, rec)
			var got []string
			for _, a := range *body.Accounts {
				got = append(got, a.AccountIdentifier)
				require.Equal(t, dsop.Disabled, *a.Status, "C-04 blocked accounts are disabled")
				require.NotEmpty(t, a.Servicer.Identifier.Value)
				require.Equal(t, dsop.CountryIdentificationCode, a.Servicer.Identifier.Type)
				require.Equal(t, c.party, a.PrimaryOwner.Identifier.Value)
				require.Nil(t, a.Name, "C-05 accounts.name is never delivered")
				require.NotEqual(t, a.AccountIdentifier, a.AccountReference, "C-06")
				require.NotContains(t, a.AccountReference, a.AccountIdentifier, "C-06")
				require.Regexp(t, `^[A-Za-z0-9_-]{24}$`, a.AccountReference)
				require.Contains(t, []dsop.AccountType{"loanAccount", "salaryAccount", "currencyAccount", "savingsAccount", "clientAccount",
					"taxDeductionAccount", "businessAccount", "creditCardAccount", "prepaidCardAccount", "accountWithoutBalance", "otherAccount"}, *a.Type, "C-07")
			}
			require.ElementsMatch(t, c.want, got)
		})
	}
}

func TestAccounts_ReferenceIsStableAcrossRequestsAndCases(t *testing.T) {
	h := newHarness(t)
	a := decode[dsop.Accounts](t, h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg)))
	hd := h.headers(openOrg)
	hd.Set("AccountInfoRequestID", "0b7a0e36-6f63-4a4f-9b1b-8f6a5d7c2e11")
	b := decode[dsop.Accounts](t, h.do(http.MethodGet, accountsURL("2020-01-01", today), hd))
	require.Equal(t, *a.Accounts, *b.Accounts)
}

func TestAccounts_Golden(t *testing.T) {
	h := newHarness(t)
	golden(t, "accounts-910336819", h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg)).Body.Bytes())
}

// D-01: a period ending today gets booked and available balance.
func TestDetails_BalancesForPeriodEndingToday(t *testing.T) {
	h := newHarness(t)
	docs := schemas(t)
	rec := h.do(http.MethodGet, accountURL(h.ref(demoAccount(t, openOrg, dsop.BusinessAccount)), "", earliest, today), h.headers(""))
	requireValid(t, docs, "AccountDetails", rec.Body.Bytes())
	golden(t, "account-details-910336819-business", rec.Body.Bytes())
	d := decode[dsop.AccountDetails](t, rec)
	var types []dsop.BalanceType
	for _, b := range *d.Account.Balances {
		types = append(types, *b.Type)
		require.Regexp(t, `^[0-9]+(\.[0-9]+)?$`, string(*b.Amount))
		require.NotNil(t, b.CreditDebitIndicator)
	}
	require.ElementsMatch(t, []dsop.BalanceType{dsop.BookedBalance, dsop.AvailableBalance}, types)
	// D-04
	require.NotContains(t, rec.Body.String(), `"links"`)
	require.Nil(t, d.Account.Name)
	require.Nil(t, d.Account.Servicer.Name)
}

func TestDetails_BookedBalanceAtPastToDate(t *testing.T) {
	h := newHarness(t)
	d := decode[dsop.AccountDetails](t, h.do(http.MethodGet, accountURL(h.ref(demoAccount(t, openOrg, dsop.BusinessAccount)), "", earliest, "2024-06-30"), h.headers("")))
	require.Len(t, *d.Account.Balances, 1)
	b := (*d.Account.Balances)[0]
	require.Equal(t, dsop.BookedBalance, *b.Type)
	require.Equal(t, "2024-06-30T23:59:59+02:00", b.Registered.Format("2006-01-02T15:04:05Z07:00"))
}

// D-02: closed in the period → no balances.
func TestDetails_NoBalanceForAccountClosedInPeriod(t *testing.T) {
	h := newHarness(t)
	d := decode[dsop.AccountDetails](t, h.do(http.MethodGet, accountURL(h.ref(demoAccount(t, openOrg, dsop.SavingsAccount)), "", earliest, today), h.headers("")))
	require.Empty(t, *d.Account.Balances)
	require.Equal(t, "2025-03-20", d.Account.EndDate.String())
}

// responseDetails partial when part of the period is archived offline.
func TestDetails_PartialWhenDataIsArchivedOffline(t *testing.T) {
	h := newHarness(t)
	ref := h.ref(demoAccount(t, "910491482", dsop.BusinessAccount))
	d := decode[dsop.AccountDetails](t, h.do(http.MethodGet, accountURL(ref, "", "2017-07-01", today), h.headers("")))
	require.Equal(t, dsop.Partial, d.ResponseDetails.Status)
	require.Contains(t, *d.ResponseDetails.Message, "2018-01-01")
	d = decode[dsop.AccountDetails](t, h.do(http.MethodGet, accountURL(ref, "", "2018-01-01", today), h.headers("")))
	require.Equal(t, dsop.Complete, d.ResponseDetails.Status)
}

// T-01: no transactions in the period.
func TestTransactions_EmptyPeriod(t *testing.T) {
	h := newHarness(t)
	ref := h.ref(demoAccount(t, openOrg, dsop.SavingsAccount)) // closed 2025-03-20
	rec := h.do(http.MethodGet, accountURL(ref, "/transactions", "2025-06-01", today), h.headers(""))
	body := decode[dsop.Transactions](t, rec)
	require.NotNil(t, body.Transactions)
	require.Empty(t, *body.Transactions)
	require.Contains(t, rec.Body.String(), `"transactions":[]`)
	for _, l := range *body.Links {
		require.NotEqual(t, "next", l.Rel)
	}
}

// T-02, T-03: 2 500 transactions give three pages, complete, ordered, with the boundaries.
func TestTransactions_PagingThroughRelativeNextLinks(t *testing.T) {
	h := newHarness(t)
	docs := schemas(t)
	target := accountURL(h.ref(pagingAccount), "/transactions", earliest, today)
	hd := h.headers("")
	var ids []string
	pages := 0
	for target != "" {
		rec := h.do(http.MethodGet, target, hd)
		requireValid(t, docs, "Transactions", rec.Body.Bytes())
		body := decode[dsop.Transactions](t, rec)
		pages++
		if pages < 3 {
			require.Len(t, *body.Transactions, 1000)
		}
		for _, tr := range *body.Transactions {
			ids = append(ids, tr.TransactionIdentifier)
		}
		target = ""
		for _, l := range *body.Links {
			if l.Rel == "next" {
				require.True(t, strings.HasPrefix(l.Href, "/accounts/"), "relative to the registered base URL: %s", l.Href)
				require.LessOrEqual(t, len(l.Href), 500)
				target = follow(t, l.Href)
			}
		}
	}
	require.Equal(t, 3, pages)
	require.Len(t, ids, 2500)
	seen := map[string]bool{}
	for _, id := range ids {
		require.False(t, seen[id], "duplicate %s", id)
		seen[id] = true
	}
	require.True(t, seen["edge-from"] && seen["edge-to"], "T-03 both boundary days are included")
	require.False(t, seen["before"] || seen["after"], "T-03 days outside the period are excluded")
	require.Equal(t, "edge-from", ids[0])
	require.Equal(t, "edge-to", ids[len(ids)-1])
	require.Less(t, slices.Index(ids, "mid-a"), slices.Index(ids, "mid-b"), "ties ordered by transactionIdentifier")
}

// T-06: a modified cursor, or one moved to another account or period, is refused.
func TestTransactions_TamperedCursorIs400(t *testing.T) {
	h := newHarness(t)
	ref := h.ref(pagingAccount)
	body := decode[dsop.Transactions](t, h.do(http.MethodGet, accountURL(ref, "/transactions", earliest, today), h.headers("")))
	var next string
	for _, l := range *body.Links {
		if l.Rel == "next" {
			next = l.Href
		}
	}
	u, err := url.Parse(next)
	require.NoError(t, err)
	page := u.Query().Get("page")
	flip := []byte(page)
	flip[3] ^= 1
	for name, target := range map[string]string{
		"edited":        accountURL(ref, "/transactions", earliest, today) + "&page=" + string(flip),
		"truncated":     accountURL(ref, "/transactions", earliest, today) + "&page=" + page[:10],
		"garbage":       accountURL(ref, "/transactions", earliest, today) + "&page=%%%",
		"other period":  accountURL(ref, "/transactions", "2018-01-01", today) + "&page=" + page,
		"other account": accountURL(h.ref(demoAccount(t, guarantor, dsop.SavingsAccount)), "/transactions", earliest, today) + "&page=" + page,
	} {
		t.Run(name, func(t *testing.T) {
			requireProblem(t, h.do(http.MethodGet, target, h.headers("")), 400, "ACC-001")
		})
	}
}

// T-04, T-05: card numbers masked, mandatory transaction fields present.
func TestTransactions_CardNumbersMaskedAndFieldsPresent(t *testing.T) {
	h := newHarness(t)
	docs := schemas(t)
	rec := h.do(http.MethodGet, accountURL(h.ref(demoAccount(t, openPerson, dsop.SalaryAccount)), "/transactions", earliest, today), h.headers(""))
	requireValid(t, docs, "Transactions", rec.Body.Bytes())
	golden(t, "transactions-08086001471-salary", rec.Body.Bytes())
	body := decode[dsop.Transactions](t, rec)
	cards := 0
	for _, tr := range *body.Transactions {
		require.NotEmpty(t, tr.TransactionIdentifier)
		require.NotNil(t, tr.Amount)
		require.NotNil(t, tr.CreditDebitIndicator)
		if *tr.Status == dsop.TransactionStatusBooked {
			require.NotNil(t, tr.BookingDate)
		}
		if tr.PaymentCard != nil {
			cards++
			require.Regexp(t, `^[0-9]{0,6}X+[0-9]{0,4}$`, tr.PaymentCard.CardIdentifier)
			require.Equal(t, "492500XXXXXX5678", tr.PaymentCard.CardIdentifier)
		}
	}
	require.Positive(t, cards)
	require.NotContains(t, rec.Body.String(), "4925000012345678")
}

// No field marked "Utleveres ikke" ever leaves: every response of every account of the demo bank.
func TestFilter_UtleveresIkkeNeverLeavesForAnyDemoResponse(t *testing.T) {
	h := newHarness(t)
	docs := schemas(t)
	rules, err := filter.Rules()
	require.NoError(t, err)
	never := map[string][]string{}
	for _, r := range rules {
		if r.Category == filter.UtleveresIkke {
			never[r.Endpoint] = append(never[r.Endpoint], r.Path)
		}
	}
	require.NotEmpty(t, never[filter.EndpointAccounts])
	require.NotEmpty(t, never[filter.EndpointAccount])
	bd, err := accounts.DecodeBankData(demo.BankData())
	require.NoError(t, err)
	checked := 0
	for _, p := range bd.Parties {
		rec := h.do(http.MethodGet, accountsURL("2018-01-01", today), h.headers(p.ID))
		if rec.Code != 200 {
			continue
		}
		requireAbsent(t, rec.Body.Bytes(), never[filter.EndpointAccounts])
		for _, a := range *decode[dsop.Accounts](t, rec).Accounts {
			for suffix, ep := range map[string]string{"": filter.EndpointAccount, "/transactions": filter.EndpointTransactions} {
				rec := h.do(http.MethodGet, accountURL(a.AccountReference, suffix, "2018-01-01", today), h.headers(""))
				require.Equal(t, 200, rec.Code)
				requireAbsent(t, rec.Body.Bytes(), never[ep])
				requireValid(t, docs, map[string]string{"": "AccountDetails", "/transactions": "Transactions"}[suffix], rec.Body.Bytes())
				checked++
			}
		}
	}
	require.Equal(t, 16, checked, "every account of every open bankruptcy in the demo bank (8 accounts, 2 endpoints each)")
}

// requireAbsent walks the JSON and fails if any of paths (arrays transparent) is present.
func requireAbsent(t *testing.T, body []byte, paths []string) {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				p := k
				if path != "" {
					p = path + "." + k
				}
				require.NotContains(t, paths, p, "field %s must never be delivered", p)
				walk(c, p)
			}
		case []any:
			for _, c := range x {
				walk(c, path)
			}
		}
	}
	walk(v, "")
}
