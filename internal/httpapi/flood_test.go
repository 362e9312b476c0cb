package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
)

// An anonymous client floods the API from one address with the largest headers it may send.
// What it costs is bounded: each record of its refusals is capped (audit.MaxCompactRecord), a
// throttled address's refusals are counted a second at a time instead of one record each, and
// nothing is lost (the counts add up to the requests). BRREG, behind the same egress address and
// behind another, is answered in the middle of it (issue #25).
func TestFlood_AnonymousRefusalsAreCappedAndCountedAndBRREGIsAnswered(t *testing.T) {
	clients := &httpapi.ClientAdmission{Rate: 5, Burst: 20}
	h := newHarness(t, func(d *httpapi.Deps) { d.Clients, d.ClientHeader = clients, "X-Forwarded-For" })
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	const attacker = "198.51.100.7"
	huge := strings.Repeat("A<\"\\", 2000)

	var sent, refused429, refused401, other atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/accounts/"+huge[:1000]+"?fromDate="+huge[:500], nil)
				req.Header.Set("X-Forwarded-For", attacker)
				req.Header.Set("AccountInfoRequestID", huge)
				req.Header.Set("CorrelationID", huge)
				req.Header.Set("Legal-Mandate", huge)
				resp, err := srv.Client().Do(req)
				if err != nil {
					continue
				}
				resp.Body.Close()
				sent.Add(1)
				switch resp.StatusCode {
				case http.StatusTooManyRequests:
					refused429.Add(1)
				case http.StatusBadRequest, http.StatusUnauthorized:
					refused401.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	// BRREG, in the middle of the flood: from the attacker's address (a shared egress proxy) and
	// from its own.
	time.Sleep(500 * time.Millisecond)
	for _, from := range []string{attacker, "203.0.113.9"} {
		hd := h.headers(openOrg)
		hd.Set("X-Forwarded-For", from)
		req, _ := http.NewRequest(http.MethodGet, srv.URL+accountsURL(earliest, today), nil)
		req.Header = hd
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "BRREG from %s during the flood", from)
	}
	wg.Wait()
	require.NoError(t, h.handler.(*httpapi.Server).Close(context.Background()))

	require.Positive(t, refused429.Load(), "the address was throttled")
	require.Zero(t, other.Load())
	var records, counted uint64
	for _, r := range h.audit.Records() {
		if audit.KindOf(r) != audit.KindUnauthenticated {
			continue
		}
		limit := audit.MaxCompactRecord
		if r.Count > 0 {
			limit = audit.MaxCompactSummary
		}
		require.LessOrEqual(t, len(r.Raw), limit, "capped record: %s", r.Raw)
		require.Equal(t, attacker, r.Client)
		records++
		counted += max(r.Count, 1)
	}
	require.Equal(t, uint64(sent.Load()), counted, "every refused request is in the log, alone or counted")
	// The burst, the rate for 1.5 s, and per second one record of the first refusal and one count.
	t.Logf("%d requests (%d throttled), %d records", sent.Load(), refused429.Load(), records)
	require.Less(t, records, uint64(20+5*2+2*3+4), "records: %d for %d requests", records, sent.Load())
	require.Greater(t, sent.Load(), int64(records)*3, "the flood was larger than what it wrote")
	rep, err := audit.Verify(context.Background(), h.audit, audit.NewSigner([]byte("0123456789abcdef0123456789abcdef")))
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
}

// Without the admission step, the same flood writes a record per request: the bound above is the
// admission's (this test fails if admission stops coalescing).
func TestFlood_WithoutClientAdmissionEveryRefusalIsARecord(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	for range 50 {
		resp, err := srv.Client().Get(srv.URL + "/v2/accounts")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	require.Len(t, h.audit.Records(), 50)
}

// A nearly full audit volume refuses new requests with a clean 503 before anything else, and the
// refusal is recorded from the space the threshold keeps.
func TestAuditVolume_NearlyFullRefusesWith503(t *testing.T) {
	var full atomic.Bool
	h := newHarness(t, func(d *httpapi.Deps) {
		d.AuditSpace = func() error {
			if full.Load() {
				return context.DeadlineExceeded
			}
			return nil
		}
	})
	rec := h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg))
	require.Equal(t, http.StatusOK, rec.Code)
	full.Store(true)
	rec = h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg))
	requireProblem(t, rec, http.StatusServiceUnavailable, "ACC-100")
	require.Equal(t, "60", rec.Header().Get("Retry-After"))
	last := h.audit.Records()[len(h.audit.Records())-1]
	require.Equal(t, "audit-volume", last.Reason)
}

// Answers in flight hold at most the budget (DSOP_ANSWER_MEMORY): while slow readers hold all of
// it, a new answer waits its MaxWait and is then refused 503 with Retry-After — recorded as
// refused, nothing delivered — and is served once the memory is given back (issue #29).
func TestAnswerBudget_ANewAnswerBeyondTheBudgetIsRefusedNotHeld(t *testing.T) {
	budget := httpapi.NewAnswerBudget(16 << 20)
	budget.MaxWait = 50 * time.Millisecond
	h := newHarness(t, func(d *httpapi.Deps) { d.Answers = budget })
	held, ok := budget.Acquire(context.Background(), 16<<20) // slow readers hold it all
	require.True(t, ok)
	before := len(h.audit.Records())
	rec := h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg))
	requireProblem(t, rec, http.StatusServiceUnavailable, "ACC-100")
	require.Equal(t, "1", rec.Header().Get("Retry-After"))
	r := h.lastRecord(before)
	require.Equal(t, 503, r.Status)
	require.Equal(t, "answer-memory", r.Reason)
	require.Nil(t, r.Accounts, "nothing delivered")
	held()
	rec = h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg))
	require.Equal(t, http.StatusOK, rec.Code, "served once the memory is back: the refusal above was the budget's")
}
