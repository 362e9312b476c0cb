package compliance_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/compliance"
)

func at(min int) time.Time { return time.Date(2026, 11, 23, 10, min, 0, 0, time.UTC) }

func logOf(t *testing.T, recs ...audit.Record) *audit.MemoryStore {
	t.Helper()
	m := &audit.MemoryStore{}
	for i := range recs {
		require.NoError(t, m.Append(context.Background(), &recs[i]))
	}
	return m
}

func records() []audit.Record {
	two, five := 2, 5
	return []audit.Record{
		{Time: at(0), Operation: "listAccounts", AccountInfoRequestID: "case-a", Consumer: "0192:974760673", PartyID: "08086001471", Status: 200, Accounts: &two,
			AccountNumbers: []string{"15035218545", "15039279301"}},
		{Time: at(1), Operation: "listTransactions", AccountInfoRequestID: "case-a", Consumer: "0192:974760673", PartyID: "08086001471", Status: 200, Transactions: &five},
		{Time: at(2), Operation: "listTransactions", AccountInfoRequestID: "case-a", Status: 401, Reason: "token:expired"},
		{Time: at(3), Operation: "console.reveal", AccountInfoRequestID: "case-a", PartyID: "08086001471", Actor: "Olivia"},
		{Time: at(4), Operation: "listAccounts", AccountInfoRequestID: "case-b", Consumer: "0192:974760673", PartyID: "910336819", Status: 400, Reason: "window"},
		{Time: at(5), Operation: "audit.reveal", AccountInfoRequestID: "case-c"},
		// Another Maskinporten client, refused, naming case-a and a party of its choosing.
		{Time: at(6), Operation: "listAccounts", AccountInfoRequestID: "case-a", Consumer: "0192:999999999", PartyID: "910000000", Status: 403, Reason: "token:consumer"},
	}
}

func TestLoadCase_SeparatesCallsFromTheBanksAccessAndCountsOnlyAuthenticatedAllowedCalls(t *testing.T) {
	c, err := compliance.LoadCase(context.Background(), logOf(t, records()...), "case-a")
	require.NoError(t, err)
	require.Len(t, c.Calls, 2)
	require.Len(t, c.Unauthenticated, 2, "anonymous and other-client refusals are listed apart")
	require.Len(t, c.Access, 1)
	require.Equal(t, []string{"08086001471"}, c.Parties, "the other client's party is not the case's")
	require.Equal(t, []string{"0192:974760673"}, c.Consumers)
	require.Equal(t, []string{"15035218545", "15039279301"}, c.AccountNumbers)
	require.Equal(t, 2, c.Accounts)
	require.Equal(t, 5, c.Transactions)
}

func TestLoadCase_AWithheldAnswerIsNotCountedAsDelivered(t *testing.T) {
	three := 3
	recs := []audit.Record{
		{Time: at(0), Operation: "listAccounts", AccountInfoRequestID: "case-w", Consumer: "0192:974760673", Status: 200, Accounts: &three},
		{Time: at(1), Operation: "listAccounts", AccountInfoRequestID: "case-w", Consumer: "0192:974760673", Status: 500, Withholds: 1},
	}
	c, err := compliance.LoadCase(context.Background(), logOf(t, recs...), "case-w")
	require.NoError(t, err)
	require.Zero(t, c.Accounts)
	require.Equal(t, uint64(2), c.WithheldBy[1])
}

func TestListCases_FiltersPagesAndListsEachCaseOnce(t *testing.T) {
	ctx := context.Background()
	var recs []audit.Record
	for i := range 130 {
		// 60 cases, two calls each, interleaved; the calls of case 0 come first and last.
		id := fmt.Sprintf("case-%03d", i%60)
		if i == 129 {
			id = "case-000"
		}
		recs = append(recs, audit.Record{Time: at(i), Operation: "listAccounts", AccountInfoRequestID: id, Consumer: "0192:974760673",
			PartyID: map[bool]string{true: "910336819", false: "974760673"}[i%2 == 0], Status: 200})
	}
	recs = append(recs, audit.Record{Time: at(200), Operation: "listAccounts", AccountInfoRequestID: "case-anon", Status: 401, Reason: "token:missing"})
	log := logOf(t, recs...)
	seen := map[string]int{}
	var before uint64
	pages := 0
	for {
		p, err := compliance.ListCases(ctx, log, compliance.CaseFilter{}, before)
		require.NoError(t, err)
		require.LessOrEqual(t, len(p.Cases), compliance.CasesPerPage)
		for _, c := range p.Cases {
			seen[c.ID]++
		}
		pages++
		if p.Next == 0 {
			break
		}
		before = p.Next
	}
	require.Equal(t, 2, pages)
	require.Len(t, seen, 60, "every case, and no case only anonymous calls named")
	for id, n := range seen {
		require.Equal(t, 1, n, "%s listed once", id)
	}
	first, err := compliance.ListCases(ctx, log, compliance.CaseFilter{}, 0)
	require.NoError(t, err)
	require.Equal(t, "case-000", first.Cases[0].ID, "newest call first")

	p, err := compliance.ListCases(ctx, log, compliance.CaseFilter{Party: "910336819"}, 0)
	require.NoError(t, err)
	for _, c := range p.Cases {
		require.Contains(t, c.Parties, "910336819")
	}
	require.NotEmpty(t, p.Cases)
}

func TestAnomalies_ThresholdsWindowAndTokenFailures(t *testing.T) {
	var recs []audit.Record
	for i := range 4 {
		recs = append(recs, audit.Record{Time: at(i), Operation: "listAccounts", AccountInfoRequestID: "case-x", Consumer: "0192:974760673", PartyID: "910336819", Status: 200})
	}
	recs = append(recs, audit.Record{Time: at(5), Operation: "listAccounts", AccountInfoRequestID: "case-y", Consumer: "0192:974760673", PartyID: "910336819", Status: 400, Reason: "window"})
	for i := range 3 {
		recs = append(recs, audit.Record{Time: at(6 + i), Operation: "listAccounts", Client: "192.0.2.7", Status: 401, Reason: "token:expired"})
	}
	var found []compliance.Finding
	err := compliance.Anomalies(context.Background(), logOf(t, recs...), compliance.Thresholds{PerCase: 3, PerParty: 4, TokenFailures: 2},
		func(f compliance.Finding) error { found = append(found, f); return nil })
	require.NoError(t, err)
	kinds := map[string]int{}
	for _, f := range found {
		kinds[f.Kind]++
	}
	require.Equal(t, map[string]int{compliance.PerCase: 1, compliance.PerParty: 1, compliance.Window: 1, compliance.TokenFailures: 1}, kinds)
}

// pageCounter is a log that refuses a whole-log read and counts what its queries return.
type pageCounter struct {
	audit.Store
	returned atomic.Int64
	queries  atomic.Int64
}

func (p *pageCounter) Scan(context.Context, func(audit.Record) error) error {
	return errors.New("a whole-log read: only verify and expiry may scan")
}

func (p *pageCounter) Query(ctx context.Context, q audit.Query) (audit.Page, error) {
	pg, err := p.Store.Query(ctx, q)
	p.returned.Add(int64(len(pg.Records)))
	p.queries.Add(1)
	return pg, err
}

// The presentation model reads what its answer needs, never the log: with 20 000 records of
// 5 000 cases, one page of cases, a case report and the anomalies read a small part of it.
func TestCompliance_ReadsPagesNeverTheLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := audit.OpenFileStore(dir, 256<<10)
	require.NoError(t, err)
	defer st.Close()
	for i := range 20000 {
		require.NoError(t, st.Append(ctx, &audit.Record{Time: at(0).Add(time.Duration(i) * time.Second), Operation: "listAccounts",
			AccountInfoRequestID: fmt.Sprintf("case-%05d", i%5000), Consumer: "0192:974760673", PartyID: "910336819", Status: 200}))
	}
	log := &pageCounter{Store: st}
	p, err := compliance.ListCases(ctx, log, compliance.CaseFilter{}, 0)
	require.NoError(t, err)
	require.Len(t, p.Cases, compliance.CasesPerPage)
	require.Less(t, log.returned.Load(), int64(1000), "one page of cases reads its cases' calls, not the log")

	log.returned.Store(0)
	c, err := compliance.LoadCase(ctx, log, "case-04999")
	require.NoError(t, err)
	require.Len(t, c.Calls, 4)
	require.Equal(t, int64(4), log.returned.Load())

	log.returned.Store(0)
	n := 0
	require.NoError(t, compliance.Anomalies(ctx, log, compliance.DefaultThresholds(), func(f compliance.Finding) error {
		n++
		require.True(t, strings.HasPrefix(f.Kind, "per-"), f.Kind)
		return nil
	}))
	require.Equal(t, 1, n, "the party has 20 000 calls")
	require.Less(t, log.returned.Load(), int64(10), "counts come from the index, not from reading the records")
}
