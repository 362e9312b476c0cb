package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/config"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
)

// manyAccounts gives openOrg n more business accounts.
func manyAccounts(n int) []accounts.Account {
	out := make([]accounts.Account, n)
	for i := range out {
		out[i] = accounts.Account{AccountNumber: fmt.Sprintf("1504%07d", i), Type: dsop.BusinessAccount, Currency: "NOK", Status: dsop.Disabled,
			StartDate: civil.MustParse("2016-01-01"),
			Roles:     []accounts.Role{{PartyID: openOrg, Role: accounts.RolePrimaryOwner, StartDate: civil.MustParse("2016-01-01")}}}
	}
	return out
}

// burst sends the requests at once over real HTTP and returns each answer's status and
// Retry-After.
func burst(t *testing.T, h *harness, targets []string) (statuses []int, retryAfter []string) {
	t.Helper()
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	statuses, retryAfter = make([]int, len(targets)), make([]string, len(targets))
	hd := h.headers("")
	hd.Set("Accept", "application/jose")
	var wg sync.WaitGroup
	for i, target := range targets {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodGet, srv.URL+target, nil)
			if err != nil {
				panic(err)
			}
			req.Header = hd.Clone()
			resp, err := srv.Client().Do(req)
			if err != nil {
				statuses[i] = -1
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i], retryAfter[i] = resp.StatusCode, resp.Header.Get("Retry-After")
		})
	}
	wg.Wait()
	return statuses, retryAfter
}

// The real consumer asks for the details of every account of a debtor at once (§7.1); with the
// production defaults all 200 are answered, none refused.
func TestAdmission_ProductionDefaultsAdmitTheConsumersFanOutOf200Accounts(t *testing.T) {
	h := newHarnessWith(t, bankWorld{extra: manyAccounts(200)}, func(d *httpapi.Deps) {
		d.Mode = httpapi.ModeProduction
		d.Admission = &httpapi.Admission{Rate: config.DefaultRateLimit, Burst: config.DefaultRateBurst,
			Concurrency: config.DefaultConsumerConcurrency, MaxWait: config.DefaultRateWait}
	})
	var targets []string
	for i := range 200 {
		targets = append(targets, accountURL(h.ref(fmt.Sprintf("1504%07d", i)), "", earliest, today))
	}
	statuses, _ := burst(t, h, targets)
	for i, s := range statuses {
		require.Equal(t, 200, s, "details request %d", i)
	}
	require.Len(t, h.audit.Records(), 200)

	// The same burst against a limit that refuses instead of queueing (the earlier default: 20/s,
	// burst 100, no wait) loses about half the accounts: the check above can fail.
	strict := newHarnessWith(t, bankWorld{extra: manyAccounts(200)}, func(d *httpapi.Deps) {
		d.Mode = httpapi.ModeProduction
		d.Admission = &httpapi.Admission{Rate: 20, Burst: 100}
	})
	statuses, _ = burst(t, strict, targets)
	refused := 0
	for _, s := range statuses {
		if s == 429 {
			refused++
		}
	}
	require.Greater(t, refused, 50)
}

// A sustained flood beyond what could be served within the wait is refused with 429 and a
// Retry-After; what fits is served, late but whole.
func TestAdmission_SustainedFloodIsRefusedWith429AndRetryAfter(t *testing.T) {
	const rate, burstSize = 5, 10
	h := newHarness(t, func(d *httpapi.Deps) {
		d.Admission = &httpapi.Admission{Rate: rate, Burst: burstSize, Concurrency: 4, MaxWait: time.Second}
	})
	ref := h.ref(demoAccount(t, openOrg, dsop.BusinessAccount))
	var targets []string
	for range 60 {
		targets = append(targets, accountURL(ref, "", earliest, today))
	}
	statuses, retry := burst(t, h, targets)
	ok, refused := 0, 0
	for i, s := range statuses {
		switch s {
		case 200:
			ok++
		case 429:
			refused++
			secs, err := strconv.Atoi(retry[i])
			require.NoError(t, err, "Retry-After is a number of seconds")
			require.GreaterOrEqual(t, secs, 1)
		default:
			t.Fatalf("request %d: status %d", i, s)
		}
	}
	// The burst, plus what the rate refills within the one-second wait (a little slack for a slow
	// machine: the bucket keeps refilling while the requests arrive).
	require.GreaterOrEqual(t, ok, burstSize+rate)
	require.LessOrEqual(t, ok, burstSize+3*rate)
	require.Equal(t, 60, ok+refused)
	recs := h.audit.Records()
	require.Len(t, recs, 60, "every request is recorded, refused or not")
	reasons := map[string]int{}
	for _, r := range recs {
		reasons[r.Reason]++
	}
	require.Equal(t, refused, reasons["rate-limit"])
}

// A transactions page is never refused for rate (issue #29): the same flood that gets 429 on the
// account details is served whole on the transactions pages, which wait for a slot instead.
func TestAdmission_TransactionsPagesAreNeverRefusedForRate(t *testing.T) {
	h := newHarness(t, func(d *httpapi.Deps) {
		d.Admission = &httpapi.Admission{Rate: 5, Burst: 10, Concurrency: 4, MaxWait: time.Second}
	})
	ref := h.ref(demoAccount(t, openOrg, dsop.BusinessAccount))
	var targets []string
	for range 40 {
		targets = append(targets, accountURL(ref, "/transactions", earliest, today))
	}
	statuses, _ := burst(t, h, targets)
	for i, s := range statuses {
		require.Equal(t, 200, s, "transactions page %d", i)
	}
	details := make([]string, 40)
	for i := range details {
		details[i] = accountURL(ref, "", earliest, today)
	}
	statuses, _ = burst(t, h, details)
	refused := 0
	for _, s := range statuses {
		if s == 429 {
			refused++
		}
	}
	require.Positive(t, refused, "the details requests of the same flood are refused: the pages' exemption is what served them")
}

// heldDecider holds every decision until release is closed: requests that a frozen database
// keeps in their concurrency slots.
type heldDecider struct {
	httpapi.Decider
	release chan struct{}
}

func (s heldDecider) ForParty(ctx context.Context, party string, p civil.Period) (konkursbehandling.Decision, []accounts.Holding, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return s.Decider.ForParty(ctx, party, p)
}

// When every slot is held by requests the bank is slow to serve, a request that cannot get one
// is told the bank is overloaded (503, Retry-After), not that it sent too much (issue #29).
func TestAdmission_SlotsHeldByASlowBankGive503Not429(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, func(d *httpapi.Deps) {
		d.Admission = &httpapi.Admission{Rate: 1000, Burst: 1000, Concurrency: 1, MaxWait: 100 * time.Millisecond}
		d.Decide = heldDecider{Decider: d.Decide, release: release}
	})
	done := make(chan int)
	go func() { done <- h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg)).Code }()
	time.Sleep(50 * time.Millisecond) // the first holds the only slot
	rec := h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg))
	requireProblem(t, rec, http.StatusServiceUnavailable, "ACC-100")
	require.NotEmpty(t, rec.Header().Get("Retry-After"))
	close(release)
	require.Equal(t, http.StatusOK, <-done)
}

// stuckAudit never finishes a write before its deadline (a frozen database).
type stuckAudit struct{ *audit.MemoryStore }

func (s stuckAudit) Append(ctx context.Context, r *audit.Record) error {
	<-ctx.Done()
	return ctx.Err()
}

// With a frozen store the answer still comes within about twice DSOP_REQUEST_TIMEOUT: the audit
// write's own deadline is at most the request's (issue #29: 8 s for 3 s).
func TestAudit_AFrozenStoreIsAnsweredWithinTwiceTheRequestDeadline(t *testing.T) {
	h := newHarness(t, func(d *httpapi.Deps) {
		d.RequestTimeout, d.AuditTimeout = 300*time.Millisecond, 5*time.Second
		d.Audit = stuckAudit{&audit.MemoryStore{}}
	})
	start := time.Now()
	rec := h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg))
	require.GreaterOrEqual(t, rec.Code, 500)
	require.Less(t, time.Since(start), 2*time.Second, "not the 5 s audit floor")
}
