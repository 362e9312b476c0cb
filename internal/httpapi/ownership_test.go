package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/accounts/accountstest"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// Accounts that changed hands between the bankrupt openOrg (kjennelsesdato 2018-06-08) and
// healthyOrg, a customer without any notice (konkursbehandling-rules.md §4.1; T-08..T-10).
const (
	endedAccount  = "15030000101" // T-08: openOrg until 2026-11-02, healthyOrg from 2026-11-03
	begunAccount  = "15030000102" // T-09: healthyOrg until 2026-02-28, openOrg from 2026-03-01
	gapAccount    = "15030000103" // openOrg, healthyOrg 2026-02-01..2026-05-31, openOrg again
	jointAccount  = "15030000104" // T-10: openOrg from 2020-01-01 and healthyOrg from 2018-01-01
	formerAccount = "15030000105" // openOrg until 2025-05-31 only
	clipFrom      = "2025-10-14"
)

func changingHands() []accounts.Account {
	d := civil.MustParse
	role := func(party, from, to string) accounts.Role {
		r := accounts.Role{PartyID: party, Role: accounts.RolePrimaryOwner, StartDate: d(from)}
		if to != "" {
			r.EndDate = d(to)
		}
		return r
	}
	at := func(date string, hour int) time.Time {
		t := d(date).In(oslo)
		return t.Add(time.Duration(hour) * time.Hour)
	}
	tx := func(id string, when time.Time) dsop.Transaction {
		amt := json.Number("100.00")
		return dsop.Transaction{TransactionIdentifier: id, BookingDate: &when, Amount: &amt,
			CreditDebitIndicator: ptr(dsop.CreditOrDebitDebit), Status: ptr(dsop.TransactionStatusBooked)}
	}
	money := func(amount string) accounts.Money {
		return accounts.Money{Amount: json.Number(amount), CreditDebitIndicator: dsop.CreditOrDebitCredit}
	}
	account := func(number string, roles ...accounts.Role) accounts.Account {
		return accounts.Account{AccountNumber: number, Type: dsop.BusinessAccount, Currency: "NOK", Status: dsop.Disabled,
			StartDate: d("2016-01-01"), Roles: roles}
	}

	ended := account(endedAccount, role(openOrg, "2016-01-01", "2026-11-02"), role(healthyOrg, "2026-11-03", ""))
	ended.Transactions = []dsop.Transaction{
		tx("debtor-1", at("2026-10-30", 12)), tx("debtor-last-day", at("2026-11-02", 23)),
		tx("next-owner-first-day", at("2026-11-03", 0)), tx("next-owner-1", at("2026-11-18", 12)),
	}
	ended.Balances = accounts.Balances{
		Current: &accounts.CurrentBalance{Booked: money("99999.00"), Available: money("88888.00"), Registered: at("2026-11-23", 8)},
		History: []accounts.HistoricBalance{{Date: d("2026-11-01"), Money: money("1000.00")}, {Date: d("2026-11-02"), Money: money("1234.00")},
			{Date: d("2026-11-10"), Money: money("5555.00")}},
	}

	begun := account(begunAccount, role(healthyOrg, "2016-01-01", "2026-02-28"), role(openOrg, "2026-03-01", ""))
	begun.Transactions = []dsop.Transaction{tx("previous-owner", at("2026-02-28", 23)), tx("debtor-first-day", at("2026-03-01", 0)), tx("debtor-2", at("2026-06-01", 9))}

	gap := account(gapAccount, role(openOrg, "2016-01-01", "2026-01-31"), role(healthyOrg, "2026-02-01", "2026-05-31"), role(openOrg, "2026-06-01", ""))
	// 1 200 in the first spell, 50 in the gap, 1 300 in the second: pages of 1 000 cross the gap.
	for i := range 1200 {
		gap.Transactions = append(gap.Transactions, tx(fmt.Sprintf("first-%04d", i), at("2025-10-14", 0).Add(time.Duration(i)*time.Hour)))
	}
	for i := range 50 {
		gap.Transactions = append(gap.Transactions, tx(fmt.Sprintf("gap-%04d", i), at("2026-02-01", 0).Add(time.Duration(i)*48*time.Hour)))
	}
	for i := range 1300 {
		gap.Transactions = append(gap.Transactions, tx(fmt.Sprintf("second-%04d", i), at("2026-06-01", 0).Add(time.Duration(i)*2*time.Hour)))
	}

	joint := account(jointAccount, role(openOrg, "2020-01-01", ""), role(healthyOrg, "2018-01-01", ""))
	joint.Transactions = []dsop.Transaction{tx("co-owner-alone", at("2019-05-05", 12)), tx("joint", at("2026-01-01", 12))}

	former := account(formerAccount, role(openOrg, "2016-01-01", "2025-05-31"), role(healthyOrg, "2025-06-01", ""))
	former.Transactions = []dsop.Transaction{tx("former", at("2025-05-30", 12)), tx("after", at("2025-11-01", 12))}

	return []accounts.Account{ended, begun, gap, joint, former}
}

func openPostgres(t testing.TB, bd *accounts.BankData, refs accounts.Referencer) accounts.Store {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	require.NoError(t, postgres.Migrate(ctx, pool))
	policy, err := filter.New(filter.Overrides{})
	require.NoError(t, err)
	_, err = postgres.ImportFile(ctx, pool, accountstest.WriteFile(t, bd), refs, policy, postgres.ImportOptions{})
	require.NoError(t, err)
	return &postgres.AccountsStore{Pool: pool}
}

// forEachStore runs a test against the embedded store and PostgreSQL (skipped visibly without
// DSOP_TEST_DATABASE_URL), loaded with the same bank data.
func forEachStore(t *testing.T, run func(t *testing.T, h *harness)) {
	for _, st := range []struct {
		name string
		open func(testing.TB, *accounts.BankData, accounts.Referencer) accounts.Store
	}{{"embedded", nil}, {"postgres", openPostgres}} {
		t.Run(st.name, func(t *testing.T) {
			run(t, newHarnessWith(t, bankWorld{extra: changingHands(), openStore: st.open}))
		})
	}
}

// allTransactions follows next to the last page and returns every transaction id in order.
func (h *harness) allTransactions(t *testing.T, number, from, to string) (ids []string, pages []int) {
	t.Helper()
	target := accountURL(h.ref(number), "/transactions", from, to)
	for range 20 {
		body := decode[dsop.Transactions](t, h.do("GET", target, h.headers("")))
		pages = append(pages, len(*body.Transactions))
		for _, tr := range *body.Transactions {
			ids = append(ids, tr.TransactionIdentifier)
		}
		target = ""
		for _, l := range *body.Links {
			if l.Rel == "next" {
				target = follow(t, l.Href)
			}
		}
		if target == "" {
			return ids, pages
		}
	}
	t.Fatal("more than 20 pages")
	return nil, nil
}

func listed(t *testing.T, h *harness, from string) map[string]dsop.Account {
	t.Helper()
	body := decode[dsop.Accounts](t, h.do("GET", accountsURL(from, today), h.headers(openOrg)))
	out := map[string]dsop.Account{}
	for _, a := range *body.Accounts {
		out[a.AccountIdentifier] = a
	}
	return out
}

func TestOwnership_EndedInsideThePeriod_T08(t *testing.T) {
	forEachStore(t, func(t *testing.T, h *harness) {
		a, ok := listed(t, h, clipFrom)[endedAccount]
		require.True(t, ok, "2a lists the account the debtor owned in part of the period")
		require.Equal(t, "2026-11-02", a.PrimaryOwner.EndDate.String(), "primaryOwner.endDate is the debtor's")
		require.Equal(t, openOrg, a.PrimaryOwner.Identifier.Value)

		ids, _ := h.allTransactions(t, endedAccount, clipFrom, today)
		require.Equal(t, []string{"debtor-1", "debtor-last-day"}, ids, "nothing after the debtor left")

		det := decode[dsop.AccountDetails](t, h.do("GET", accountURL(h.ref(endedAccount), "", clipFrom, today), h.headers("")))
		require.Equal(t, openOrg, det.Account.PrimaryOwner.Identifier.Value)
		bal := *det.Account.Balances
		require.Len(t, bal, 1, "only the booked balance at the end of the debtor's spell: %+v", bal)
		require.Equal(t, dsop.BookedBalance, *bal[0].Type)
		require.Equal(t, json.Number("1234.00"), *bal[0].Amount)
		require.Equal(t, "2026-11-02", civil.Of(bal[0].Registered.In(oslo)).String())
		for _, b := range bal {
			require.NotContains(t, []json.Number{"99999.00", "88888.00", "5555.00"}, *b.Amount, "never the next owner's balance")
		}
	})
}

func TestOwnership_BegunInsideThePeriod_T09(t *testing.T) {
	forEachStore(t, func(t *testing.T, h *harness) {
		a, ok := listed(t, h, clipFrom)[begunAccount]
		require.True(t, ok)
		require.Equal(t, "2026-03-01", a.PrimaryOwner.StartDate.String())
		ids, _ := h.allTransactions(t, begunAccount, clipFrom, today)
		require.Equal(t, []string{"debtor-first-day", "debtor-2"}, ids, "nothing before the debtor took over")
	})
}

func TestOwnership_TwoSpellsWithAGapPagedExactly(t *testing.T) {
	forEachStore(t, func(t *testing.T, h *harness) {
		a, ok := listed(t, h, clipFrom)[gapAccount]
		require.True(t, ok)
		require.Equal(t, "2026-06-01", a.PrimaryOwner.StartDate.String(), "the latest spell is shown")
		require.Nil(t, a.PrimaryOwner.EndDate)

		ids, pages := h.allTransactions(t, gapAccount, clipFrom, today)
		require.Equal(t, []int{1000, 1000, 500}, pages, "≥ 1 000 on every page but the last")
		require.Len(t, ids, 2500)
		seen := map[string]bool{}
		for i, id := range ids {
			require.False(t, seen[id], "duplicate %s", id)
			seen[id] = true
			require.False(t, strings.HasPrefix(id, "gap-"), "%s is from when someone else owned the account", id)
			if i < 1200 {
				require.Equal(t, fmt.Sprintf("first-%04d", i), id)
			} else {
				require.Equal(t, fmt.Sprintf("second-%04d", i-1200), id)
			}
		}
	})
}

func TestOwnership_JointAccountWithAHealthyCoOwner_T10(t *testing.T) {
	forEachStore(t, func(t *testing.T, h *harness) {
		a, ok := listed(t, h, earliest)[jointAccount]
		require.True(t, ok, "served: the debtor owned it")
		require.Equal(t, openOrg, a.PrimaryOwner.Identifier.Value, "the debtor, not the co-owner")
		ids, _ := h.allTransactions(t, jointAccount, earliest, today)
		require.Equal(t, []string{"joint"}, ids, "nothing from before the debtor became an owner")
		det := decode[dsop.AccountDetails](t, h.do("GET", accountURL(h.ref(jointAccount), "", earliest, today), h.headers("")))
		require.Equal(t, openOrg, det.Account.PrimaryOwner.Identifier.Value)
	})
}

func TestOwnership_OwnedOnlyOutsideThePeriod(t *testing.T) {
	forEachStore(t, func(t *testing.T, h *harness) {
		_, listedNow := listed(t, h, clipFrom)[formerAccount]
		require.False(t, listedNow, "not listed when owned only before the period")
		_, listedEarlier := listed(t, h, earliest)[formerAccount]
		require.True(t, listedEarlier, "the same account is listed for a period the debtor owned it in: the refusal above is the clipping's")
		for _, suffix := range []string{"", "/transactions"} {
			rec := h.do("GET", accountURL(h.ref(formerAccount), suffix, clipFrom, today), h.headers(""))
			requireProblem(t, rec, 404, "ACC-002")
			require.NotContains(t, rec.Body.String(), "after")
		}
		ids, _ := h.allTransactions(t, formerAccount, earliest, today)
		require.Equal(t, []string{"former"}, ids, "for a period the debtor owned it in: only the debtor's part")
	})
}
