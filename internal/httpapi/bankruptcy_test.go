package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

// K-01…K-08 of test-cases.md §3.4 through step 2a.
func TestBankruptcy_GateAndWindowOnAccounts(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name, party, from, to string
		status                int
		code                  string
	}{
		{"K-01 open, fromDate = K - 12 months", openOrg, earliest, today, 200, ""},
		{"K-02 fromDate one day earlier", openOrg, "2017-06-07", today, 400, "ACC-001"},
		{"K-03 toDate tomorrow", openOrg, earliest, "2026-11-24", 400, "ACC-001"},
		{"K-04 fromDate after toDate", openOrg, "2020-01-02", "2020-01-01", 400, "ACC-001"},
		{"toDate in the past is allowed (not-future policy)", openOrg, earliest, "2025-01-01", 200, ""},
		{"K-05 party without any notice", noNotice, earliest, today, 403, "ACC-011"},
		{"K-05 customer without any notice", healthyOrg, "2025-01-01", today, 403, "ACC-011"},
		{"K-06 annulled (sletting)", annulledOrg, earliest, today, 403, "ACC-011"},
		{"K-07 reversed (oppheving)", reversedPerson, earliest, today, 403, "ACC-011"},
		{"K-08 closed (avslutning)", closedOrg, earliest, today, 403, "ACC-011"},
		{"open person", openPerson, earliest, today, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := h.do(http.MethodGet, accountsURL(c.from, c.to), h.headers(c.party))
			if c.status == 200 {
				require.Equal(t, 200, rec.Code, rec.Body.String())
				return
			}
			requireProblem(t, rec, c.status, c.code)
		})
	}
}

func TestBankruptcy_WindowMessageNamesTheEarliestDate(t *testing.T) {
	h := newHarness(t)
	p := requireProblem(t, h.do(http.MethodGet, accountsURL("2017-06-07", today), h.headers(openOrg)), 400, "ACC-001")
	require.Contains(t, p.Message, "2017-06-08")
	require.Contains(t, p.Message, "kjennelsesdato 2018-06-08")
}

// Step 2b re-derives the party from the account (konkursbehandling-rules.md §5.2 item 6).
func TestBankruptcy_Step2bIsJudgedByTheAccountsOwner(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name    string
		account string
		from    string
		status  int
		code    string
	}{
		{"open owner", demoAccount(t, openOrg, dsop.BusinessAccount), earliest, 200, ""},
		{"window applies to 2b", demoAccount(t, openOrg, dsop.BusinessAccount), "2017-06-07", 400, "ACC-001"},
		{"K-10 owner annulled", demoAccount(t, annulledOrg, dsop.BusinessAccount), earliest, 403, "ACC-011"},
		{"owner reversed", demoAccount(t, reversedPerson, dsop.SalaryAccount), earliest, 403, "ACC-011"},
		{"owner closed", demoAccount(t, closedOrg, dsop.BusinessAccount), earliest, 403, "ACC-011"},
		{"owner never notified: not found", demoAccount(t, healthyOrg, dsop.BusinessAccount), "2025-01-01", 404, "ACC-002"},
		{"bankrupt party is only disponent: not found", demoAccount(t, healthyOrg, dsop.BusinessAccount), earliest, 404, "ACC-002"},
	}
	for _, c := range cases {
		for _, suffix := range []string{"", "/transactions"} {
			t.Run(c.name+suffix, func(t *testing.T) {
				rec := h.do(http.MethodGet, accountURL(h.ref(c.account), suffix, c.from, today), h.headers(""))
				if c.status == 200 {
					require.Equal(t, 200, rec.Code, rec.Body.String())
					return
				}
				requireProblem(t, rec, c.status, c.code)
			})
		}
	}
}

// D-03: only references the server made resolve; the account number itself is no reference.
func TestBankruptcy_UnknownOrForgedReferenceIsNotFound(t *testing.T) {
	h := newHarness(t)
	account := demoAccount(t, openPerson, dsop.SalaryAccount)
	hd := h.headers("")
	require.Equal(t, 200, h.do(http.MethodGet, accountURL(h.ref(account), "", earliest, today), hd).Code)
	for _, ref := range []string{"not-a-reference", account, h.ref(account)[:23] + "A", "%00", strings.Repeat("x", 300)} {
		for _, suffix := range []string{"", "/transactions"} {
			requireProblem(t, h.do(http.MethodGet, accountURL(ref, suffix, earliest, today), hd), 404, "ACC-002")
		}
	}
}
