package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/accounts/accountstest"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// A frozen database (a proxy that stops forwarding, as SIGSTOP looks to a client) never holds a
// request beyond its deadline: the store query is cancelled at the request deadline, the audit
// write gets its own deadline, and the caller gets an error — no data — within about twice the
// deadline.
func TestFrozenDatabase_EveryRequestIsAnsweredWithinItsDeadline(t *testing.T) {
	f := pgtest.FreezableURL(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, f.URL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, postgres.Migrate(ctx, pool))
	const deadline = time.Second
	h := newHarnessWith(t, bankWorld{openStore: func(tb testing.TB, bd *accounts.BankData, refs accounts.Referencer) accounts.Store {
		policy, err := filter.New(filter.Overrides{})
		require.NoError(tb, err)
		_, err = postgres.ImportFile(ctx, pool, accountstest.WriteFile(tb, bd), refs, policy, postgres.ImportOptions{})
		require.NoError(tb, err)
		return &postgres.AccountsStore{Pool: pool}
	}}, func(d *httpapi.Deps) {
		d.Audit = &postgres.AuditStore{Pool: pool}
		d.RequestTimeout, d.AuditTimeout, d.MaxInFlight = deadline, deadline, 8
	})
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	get := func() (int, time.Duration) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+accountsURL(earliest, today), nil)
		req.Header = h.headers(openOrg)
		start := time.Now()
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	status, _ := get()
	require.Equal(t, 200, status, "served while the database answers")

	f.Freeze()
	defer f.Thaw()
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 20 {
		wg.Go(func() {
			status, took := get()
			require.Less(t, took, 2*deadline+time.Second, "answered within about twice the deadline")
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	// With the audit log unwritable every answer is 503 ACC-100 (never 429) and none has data: a shed request
	// too, since it must be recorded before it is answered.
	require.Equal(t, map[int]int{503: 20}, statuses)

	f.Thaw()
	require.Eventually(t, func() bool { s, _ := get(); return s == 200 }, 10*time.Second, 100*time.Millisecond, "recovers when the database thaws")
}

type blockingDecider struct {
	httpapi.Decider
	entered chan struct{}
	release chan struct{}
}

func (b blockingDecider) ForParty(ctx context.Context, party string, p civil.Period) (konkursbehandling.Decision, []accounts.Holding, error) {
	select {
	case b.entered <- struct{}{}:
		<-b.release
	case <-b.release:
	}
	return b.Decider.ForParty(ctx, party, p)
}

// Above MaxInFlight a request is answered at once with 503 ACC-100 and Retry-After, and recorded.
func TestShed_RequestsAboveTheInFlightCapAreRefusedAtOnce(t *testing.T) {
	bd := blockingDecider{entered: make(chan struct{}), release: make(chan struct{})}
	h := newHarness(t, func(d *httpapi.Deps) {
		bd.Decider = d.Decide
		d.Decide, d.MaxInFlight = bd, 2
	})
	results := make(chan int, 2)
	for range 2 {
		go func() { results <- h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg)).Code }()
		<-bd.entered
	}
	rec := h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg))
	requireProblem(t, rec, http.StatusServiceUnavailable, "ACC-100")
	require.Equal(t, "1", rec.Header().Get("Retry-After"))
	require.Equal(t, "overloaded", h.lastRecord(0).Reason, "shed, and recorded")
	close(bd.release)
	require.Equal(t, 200, <-results)
	require.Equal(t, 200, <-results)
	require.Equal(t, 200, h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg)).Code, "served again once below the cap")
}
