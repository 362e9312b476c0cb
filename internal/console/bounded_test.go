package console_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
)

// countingLog refuses whole-log reads and counts the records its queries return.
type countingLog struct {
	audit.Store
	returned atomic.Int64
	block    atomic.Bool // queries wait for their deadline (a locked table)
}

func (c *countingLog) Scan(context.Context, func(audit.Record) error) error {
	return errors.New("a console page read the whole log")
}

func (c *countingLog) Query(ctx context.Context, q audit.Query) (audit.Page, error) {
	if c.block.Load() {
		<-ctx.Done()
		return audit.Page{}, fmt.Errorf("query: %w", ctx.Err())
	}
	p, err := c.Store.Query(ctx, q)
	c.returned.Add(int64(len(p.Records)))
	return p, err
}

// Every console page reads what it shows, not the log: over 12 000 records of 3 000 cases, each
// page's reads stay a small fraction of the log (issue #25), and a page whose reads pass
// DSOP_CONSOLE_READ_TIMEOUT answers 503 with what to do, in time.
func TestConsole_PagesReadPagesOfTheLogAndHaveADeadline(t *testing.T) {
	ctx := context.Background()
	st, err := audit.OpenFileStore(t.TempDir(), 512<<10)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	for i := range 12000 {
		require.NoError(t, st.Append(ctx, &audit.Record{Time: time.Now().Add(time.Duration(i-12000) * time.Second), Operation: "listAccounts",
			Consumer: "0192:974760673", AccountInfoRequestID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i%3000), PartyID: "910336819", Status: 200}))
	}
	log := &countingLog{Store: st}
	w := newWorldOn(t, stores{audit: log, notices: konkursvarsel.NewMemoryStore(), outbox: &konkursvarsel.FileOutbox{Dir: t.TempDir()}, readTimeout: 2 * time.Second}) // room for a page under -race on a loaded CI machine
	b := w.login(t, "dev-officer")
	older := regexp.MustCompile(`href="(/\?before=\d+)" id="older"`)
	next := ""
	for _, p := range []string{"/", "older", "/cases/00000000-0000-4000-8000-000000000007", "/anomalies", "/activity", "/health"} {
		if p == "older" {
			p = next
		}
		log.returned.Store(0)
		res, body := get(t, b, w.url+p)
		require.Equal(t, http.StatusOK, res.StatusCode, "%s: %.500s", p, body)
		require.Less(t, log.returned.Load(), int64(1000), "%s read %d records of 12 000", p, log.returned.Load())
		if m := older.FindStringSubmatch(body); m != nil {
			next = html.UnescapeString(m[1])
		}
	}
	require.NotEmpty(t, next, "the cases page links to older cases")
	log.block.Store(true)
	start := time.Now()
	res, body := get(t, b, w.url+"/")
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	require.Contains(t, body, "did not answer within 2s")
	require.Less(t, time.Since(start), 6*time.Second)
}

// slowCounts delays the grouped counts, as PostgreSQL does over millions of calls.
type slowCounts struct {
	audit.Store
	release chan struct{}
}

func (s *slowCounts) Count(ctx context.Context, q audit.CountQuery, fn func(string, int) error) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Store.Count(ctx, q, fn)
}

// Anomalies that take longer than a page may are computed in the background: the page answers
// within its read deadline saying so, reloads by itself, and then shows the findings and when
// they were computed.
func TestConsole_SlowAnomaliesAreComputedInTheBackground(t *testing.T) {
	mem := &audit.MemoryStore{}
	slow := &slowCounts{Store: mem, release: make(chan struct{})}
	w := newWorldOn(t, stores{audit: slow, notices: konkursvarsel.NewMemoryStore(), outbox: &konkursvarsel.FileOutbox{Dir: t.TempDir()}, readTimeout: 200 * time.Millisecond})
	for i := range 60 {
		require.NoError(t, mem.Append(context.Background(), &audit.Record{Time: time.Now(), Operation: "listAccounts", Consumer: "0192:974760673",
			AccountInfoRequestID: "00000000-0000-4000-8000-000000000099", PartyID: "910336819", Status: 200, CorrelationID: fmt.Sprint(i)}))
	}
	b := w.login(t, "dev-officer")
	start := time.Now()
	res, body := get(t, b, w.url+"/anomalies")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, body, `id="computing"`)
	require.Contains(t, body, `http-equiv="refresh" content="5;url=/anomalies"`)
	require.Less(t, time.Since(start), 3*time.Second)
	close(slow.release)
	require.Eventually(t, func() bool {
		_, body = get(t, b, w.url+"/anomalies")
		return strings.Contains(body, `id="as-of"`)
	}, 5*time.Second, 50*time.Millisecond)
	require.Contains(t, body, "60 calls in one case")
}
