package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// What the real consumer's habits ask of references and cursors (kontrollinformasjon-api.md
// §7.2, issue #29): an egress proxy that decodes URLs twice, and references replayed in a later
// run against another instance of the bank's server.

var unreserved = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// A next link survives a proxy that decodes it twice: references and cursors are unreserved
// characters, so decoding changes nothing.
func TestPeers_ADoubleDecodingProxyChangesNoLink(t *testing.T) {
	h := newHarness(t)
	ref := h.ref(pagingAccount)
	require.Regexp(t, unreserved, ref)
	rec := h.do(http.MethodGet, accountURL(ref, "/transactions", earliest, today), h.headers(""))
	require.Equal(t, http.StatusOK, rec.Code)
	page := decode[dsop.Transactions](t, rec)
	var next string
	for _, l := range *page.Links {
		if l.Rel == "next" {
			next = follow(t, l.Href)
		}
	}
	require.NotEmpty(t, next, "the paging account has a second page")
	u, err := url.Parse(next)
	require.NoError(t, err)
	require.Regexp(t, unreserved, u.Query().Get("page"), "the cursor")
	twice := next
	for range 2 {
		if twice, err = url.PathUnescape(twice); err != nil {
			t.Fatal(err)
		}
	}
	once, again := h.do(http.MethodGet, next, h.headers("")), h.do(http.MethodGet, twice, h.headers(""))
	require.Equal(t, http.StatusOK, once.Code)
	require.Equal(t, http.StatusOK, again.Code, twice)
	require.Equal(t, once.Body.String(), again.Body.String())
}

// A reference a consumer kept from an earlier run is answered by another instance of the server
// with the same secret — a restart, another replica, a later day.
func TestPeers_AReferenceFromAnEarlierRunIsStillValid(t *testing.T) {
	first := newHarness(t)
	ref := first.ref(pagingAccount)
	later := newHarness(t)
	rec := later.do(http.MethodGet, accountURL(ref, "", earliest, today), later.headers(""))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = later.do(http.MethodGet, accountURL("AAAAAAAAAAAAAAAAAAAAAAAA", "", earliest, today), later.headers(""))
	requireProblem(t, rec, http.StatusNotFound, "ACC-002")
}

// pluginBankingRun replays how Digdir's plugin-banking fetches one debtor from one bank
// (kontrollinformasjon-api.md §7.2): one token for the whole run; the account list; each
// account's details; then each account's transactions in turn, page by page following next.
// On any HTTP error among the transaction pages it starts every account again from page 1, and
// on a second error it reports the bank with no accounts at all. It returns the transactions it
// kept per account, or nil when the bank was lost, and every status it saw.
func pluginBankingRun(t *testing.T, h *harness, party string, hd http.Header) (kept map[string]int, statuses []int) {
	t.Helper()
	return pluginBankingRunPeriod(t, h, party, hd, earliest, today)
}

// pluginBankingRunPeriod is pluginBankingRun for a period of the caller's choice.
func pluginBankingRunPeriod(t *testing.T, h *harness, party string, hd http.Header, from, to string) (kept map[string]int, statuses []int) {
	t.Helper()
	get := func(target string, withParty bool) *httptest.ResponseRecorder {
		req := hd.Clone()
		if withParty {
			req.Set("PartyID", party)
		}
		rec := h.do(http.MethodGet, target, req)
		statuses = append(statuses, rec.Code)
		return rec
	}
	list := get(accountsURL(from, to), true)
	if list.Code != http.StatusOK {
		return nil, statuses
	}
	var refs []string
	for _, a := range *decode[dsop.Accounts](t, list).Accounts {
		refs = append(refs, a.AccountReference)
		get(accountURL(a.AccountReference, "", from, to), false) // an error keeps it list-only
	}
	allTransactions := func() (map[string]int, bool) {
		out := map[string]int{}
		for _, ref := range refs {
			target := accountURL(ref, "/transactions", from, to)
			for pages := 0; target != ""; pages++ {
				require.Less(t, pages, 10)
				rec := get(target, false)
				if rec.Code != http.StatusOK {
					return nil, false
				}
				page := decode[dsop.Transactions](t, rec)
				out[ref] += len(*page.Transactions)
				target = ""
				for _, l := range *page.Links {
					if l.Rel == "next" {
						target = follow(t, l.Href)
					}
				}
			}
		}
		return out, true
	}
	if kept, ok := allTransactions(); ok {
		return kept, statuses
	}
	if kept, ok := allTransactions(); ok { // the client's catch: everything again from page 1
		return kept, statuses
	}
	return nil, statuses
}

// failingOncePages is a bank-data store whose first read of a page after the first fails, as
// a database restarting or a replica failing over under one request would.
type failingOncePages struct {
	accounts.Store
	failed atomic.Bool
}

func (s *failingOncePages) Transactions(ctx context.Context, ref string, from, until time.Time, after *accounts.Position, limit int, fn func(dsop.Transaction) error) error {
	if after != nil && s.failed.CompareAndSwap(false, true) {
		return errors.New("connection reset by the database")
	}
	return s.Store.Transactions(ctx, ref, from, until, after, limit, fn)
}

// A fault on page 2 (issue #29): the client replays every account from page 1. That second
// pass doubles the load of the run, so our answer to the fault must be a fast JSON 5xx, the
// cursors must still hold, and no page may be refused for rate, or the client drops every account
// of the debtor — here under a rate limit that the replay alone would exceed.
func TestPeers_APage2FaultDoesNotLoseTheDebtorsAccounts(t *testing.T) {
	var pages *failingOncePages
	h := newHarnessWith(t, bankWorld{openStore: func(tb testing.TB, bd *accounts.BankData, refs accounts.Referencer) accounts.Store {
		pages = &failingOncePages{Store: accounts.NewMemoryStore(bd, refs)}
		return pages
	}}, func(d *httpapi.Deps) {
		d.Admission = &httpapi.Admission{Rate: 1, Burst: 5, Concurrency: 4, MaxWait: 10 * time.Millisecond}
		d.Decide = &konkursbehandling.Decider{Bankruptcies: d.Decide.(*konkursbehandling.Decider).Bankruptcies, Accounts: pages}
		d.Accounts.Store = pages
	})
	kept, statuses := pluginBankingRun(t, h, guarantor, h.headers(""))
	require.True(t, pages.failed.Load(), "the fault happened")
	require.Contains(t, statuses, http.StatusServiceUnavailable, "the fault is a fast 503, which the client retries")
	require.NotContains(t, statuses, http.StatusTooManyRequests, "no page refused for rate, though the replay doubled the run (%v)", statuses)
	require.NotNil(t, kept, "the client keeps the debtor's accounts")
	require.Equal(t, 2500, kept[h.ref(pagingAccount)], "every transaction of the paging account, pages 1 to 3")

	// Each request of the run was recorded, the failed page as refused.
	var failed int
	require.NoError(t, h.audit.Scan(context.Background(), func(r audit.Record) error {
		if r.Status == http.StatusServiceUnavailable && r.Operation == "listTransactions" {
			failed++
		}
		return nil
	}))
	require.Equal(t, 1, failed)
}

// One token serves the whole run (tokens live 120 s, and the client hands one out until 5 s
// before it expires): a late page that arrives after exp, within DSOP_TOKEN_SKEW (10 s here), is
// served; past the leeway the token is refused with 401 ACC-010 — the leeway is small and
// documented, never open-ended.
func TestPeers_ARunLongerThanItsTokenIsServedWithinTheDocumentedLeeway(t *testing.T) {
	at := now
	h := newHarness(t, func(d *httpapi.Deps) {
		d.Tokens.(*validation.TokenValidator).Now = func() time.Time { return at }
	})
	hd := h.headers("")
	hd.Set("Authorization", "Bearer "+h.token(devissuer.Options{Now: now})) // exp = now + 120 s
	ref := h.ref(pagingAccount)
	first := h.do(http.MethodGet, accountURL(ref, "/transactions", earliest, today), hd)
	require.Equal(t, http.StatusOK, first.Code)
	var next string
	for _, l := range *decode[dsop.Transactions](t, first).Links {
		if l.Rel == "next" {
			next = follow(t, l.Href)
		}
	}
	require.NotEmpty(t, next)

	at = now.Add(125 * time.Second) // 5 s past exp
	rec := h.do(http.MethodGet, next, hd)
	require.Equal(t, http.StatusOK, rec.Code, "a late page within the leeway is served: %s", rec.Body.String())

	at = now.Add(131 * time.Second) // 11 s past exp
	requireProblem(t, h.do(http.MethodGet, next, hd), http.StatusUnauthorized, "ACC-010")
}
