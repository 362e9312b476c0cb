package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
)

func TestRateLimit_429WithRetryAfterThenRecovers(t *testing.T) {
	clock := now
	h := newHarness(t, func(d *httpapi.Deps) {
		d.Admission = &httpapi.Admission{Rate: 0.5, Burst: 2, Now: func() time.Time { return clock }}
	})
	get := func() *http.Response {
		return h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg)).Result()
	}
	require.Equal(t, 200, get().StatusCode)
	require.Equal(t, 200, get().StatusCode)
	rec := h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg))
	requireProblem(t, rec, http.StatusTooManyRequests, "ACC-022")
	require.Equal(t, "2", rec.Header().Get("Retry-After"))
	r := h.lastRecord(2)
	require.Equal(t, 429, r.Status, "a throttled request is audited too")
	require.Equal(t, "rate-limit", r.Reason, "with its reason from the error table")
	clock = clock.Add(2 * time.Second)
	require.Equal(t, 200, get().StatusCode, "recovered after Retry-After")
}

func TestLimits_TooManyHeaderLinesAndDeadline(t *testing.T) {
	h := newHarness(t, func(d *httpapi.Deps) { d.MaxHeaders = 20 })
	hd := h.headers(openOrg)
	for i := range 30 {
		hd.Add("X-Filler", strings.Repeat("x", i))
	}
	requireProblem(t, h.do(http.MethodGet, accountsURL(earliest, today), hd), 400, "ACC-001")
	require.Equal(t, "headers", h.lastRecord(0).Reason)

	slow := newHarness(t, func(d *httpapi.Deps) {
		d.RequestTimeout = 50 * time.Millisecond
		d.Decide = slowDecider{d.Decide} // a store that answers only when the deadline has passed
	})
	rec := slow.do(http.MethodGet, accountsURL(earliest, today), slow.headers(openOrg))
	requireProblem(t, rec, 503, "ACC-100") // past its deadline: no data, an error the caller may retry
}

type slowDecider struct{ httpapi.Decider }

func (s slowDecider) ForParty(ctx context.Context, party string, p civil.Period) (konkursbehandling.Decision, []accounts.Holding, error) {
	<-ctx.Done()
	return konkursbehandling.Decision{}, nil, ctx.Err()
}
