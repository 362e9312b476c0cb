package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/httpapi"
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
		d.RequestTimeout = time.Nanosecond
	})
	rec := slow.do(http.MethodGet, accountsURL(earliest, today), slow.headers(openOrg))
	requireProblem(t, rec, 503, "ACC-100") // past its deadline: no data, an error the caller may retry
}
