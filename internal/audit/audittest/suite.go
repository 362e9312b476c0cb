// Package audittest is the one test suite every audit.Store implementation passes.
package audittest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
)

// Tamperer changes a store behind its back, as someone with access to its storage could.
type Tamperer interface {
	Edit(t *testing.T, seq uint64)   // change a field of the record, leave its hash
	Delete(t *testing.T, seq uint64) // remove the record
	Swap(t *testing.T, a, b uint64)  // exchange the places of two records
}

// Factory opens a fresh, empty store and the tamperer for it.
type Factory func(t *testing.T) (audit.Store, Tamperer)

// Signer is the checkpoint signer of the suite.
var signer = audit.NewSigner([]byte("0123456789abcdef0123456789abcdef"))

func fill(t *testing.T, st audit.Store, n int, start time.Time) {
	t.Helper()
	for i := range n {
		r := &audit.Record{
			Time: start.Add(time.Duration(i) * time.Hour), Operation: "listAccounts", Method: "GET", Path: "/v2/accounts",
			AccountInfoRequestID: "d4a820ca-ddde-11ed-b5ea-0242ac120002", CorrelationID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			PartyID: "910336819", Status: 200,
		}
		require.NoError(t, st.Append(context.Background(), r))
		require.Equal(t, uint64(i+1), r.Seq)
		require.Len(t, r.Hash, 64)
	}
}

// Run runs the suite.
func Run(t *testing.T, open Factory) {
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t.Run("queries", func(t *testing.T) { runQueries(t, open) })
	t.Run("clean chain verifies", func(t *testing.T) {
		st, _ := open(t)
		fill(t, st, 20, start)
		rep, err := audit.Verify(ctx, st, signer)
		require.NoError(t, err)
		require.True(t, rep.OK(), rep.Problem)
		require.EqualValues(t, 20, rep.Records)
	})
	t.Run("a body handed over is hashed into its record and not kept", func(t *testing.T) {
		st, _ := open(t)
		body := []byte(`{"responseDetails":{"status":"complete"},"accounts":[]}`)
		r := &audit.Record{Time: start, Operation: "listAccounts", Status: 200, Body: body}
		require.NoError(t, st.Append(ctx, r))
		require.Equal(t, audit.BodyHash(body), r.BodySHA256)
		require.Nil(t, r.Body)
		var stored []audit.Record
		require.NoError(t, st.Scan(ctx, func(r audit.Record) error { stored = append(stored, r); return nil }))
		require.Len(t, stored, 1)
		require.Equal(t, audit.BodyHash(body), stored[0].BodySHA256)
		require.Nil(t, stored[0].Body)
		rep, err := audit.Verify(ctx, st, signer)
		require.NoError(t, err)
		require.True(t, rep.OK(), rep.Problem)
	})
	t.Run("edited record is found", func(t *testing.T) {
		st, tm := open(t)
		fill(t, st, 10, start)
		tm.Edit(t, 4)
		rep, err := audit.Verify(ctx, st, signer)
		require.NoError(t, err)
		require.False(t, rep.OK())
		require.EqualValues(t, 4, rep.BadSeq)
		require.Contains(t, rep.Problem, "record 4")
	})
	t.Run("deleted record is found", func(t *testing.T) {
		st, tm := open(t)
		fill(t, st, 10, start)
		tm.Delete(t, 6)
		rep, err := audit.Verify(ctx, st, signer)
		require.NoError(t, err)
		require.False(t, rep.OK())
		require.EqualValues(t, 6, rep.BadSeq)
		require.Contains(t, rep.Problem, "missing")
	})
	t.Run("reordered records are found", func(t *testing.T) {
		st, tm := open(t)
		fill(t, st, 10, start)
		tm.Swap(t, 3, 7)
		rep, err := audit.Verify(ctx, st, signer)
		require.NoError(t, err)
		require.False(t, rep.OK())
		require.EqualValues(t, 3, rep.BadSeq)
	})
	t.Run("expiry keeps the rest verifiable from a signed checkpoint", func(t *testing.T) {
		st, _ := open(t)
		fill(t, st, 48, start) // two days of records
		removed, err := st.Expire(ctx, start.Add(30*time.Hour), signer)
		require.NoError(t, err)
		require.Positive(t, removed)
		rep, err := audit.Verify(ctx, st, signer)
		require.NoError(t, err)
		require.True(t, rep.OK(), rep.Problem)
		require.NotNil(t, rep.Checkpoint)
		require.EqualValues(t, 48-removed, rep.Records)
		require.EqualValues(t, removed+1, rep.FirstSeq)
		// The chain goes on after the checkpoint.
		r := &audit.Record{Time: start.Add(49 * time.Hour), Operation: "listAccounts", Status: 403}
		require.NoError(t, st.Append(ctx, r))
		require.EqualValues(t, 49, r.Seq)
		rep, err = audit.Verify(ctx, st, signer)
		require.NoError(t, err)
		require.True(t, rep.OK(), rep.Problem)
		// A checkpoint signed with another key is refused.
		rep, err = audit.Verify(ctx, st, audit.NewSigner([]byte("another secret of 32 bytes......")))
		require.NoError(t, err)
		require.Contains(t, rep.Problem, "signature")
	})
	t.Run("expiry verifies the chain it cuts and refuses on a break", func(t *testing.T) {
		st, tm := open(t)
		fill(t, st, 48, start)
		now := start.Add(30*time.Hour + audit.MinRetention) // the first 30 records are past retention
		tm.Edit(t, 5)
		removed, err := audit.Expire(ctx, st, audit.MinRetention, now, signer)
		require.ErrorContains(t, err, "broken at record 5")
		require.Zero(t, removed)
		rep, err := audit.Verify(ctx, st, signer)
		require.NoError(t, err)
		require.False(t, rep.OK(), "the edited record is still there to be found")
		require.EqualValues(t, 5, rep.BadSeq)
	})
	t.Run("expiry refuses a retention below the floor", func(t *testing.T) {
		st, _ := open(t)
		fill(t, st, 10, start)
		_, err := audit.Expire(ctx, st, time.Second, start.Add(time.Hour+audit.MinRetention), signer)
		require.ErrorContains(t, err, "below the floor")
		rep, err := audit.Verify(ctx, st, signer)
		require.NoError(t, err)
		require.EqualValues(t, 10, rep.Records)
		// The same chain, untampered, expires (the file store cuts whole segments only): the refusal
		// above is the floor's.
		_, err = audit.Expire(ctx, st, audit.MinRetention, start.Add(5*time.Hour+audit.MinRetention), signer)
		require.NoError(t, err)
	})
}

// varied appends n records of every kind: calls of several cases, parties, consumers and
// services, refusals, unauthenticated calls from several clients, and the bank's own access.
func varied(t *testing.T, st audit.Store, n int, start time.Time) {
	t.Helper()
	ctx := context.Background()
	parties := []string{"910336819", "08086001471", "889640782"}
	consumers := []string{dsopservice.Konkursbehandling().Consumers[0], dsopservice.OED().Consumers[0]}
	for i := range n {
		r := &audit.Record{
			Time: start.Add(time.Duration(i) * time.Minute), Operation: "listAccounts", Method: "GET", Path: "/v2/accounts",
			Service: []string{"konkursbehandling", "oed"}[i%2], Client: fmt.Sprintf("10.0.0.%d", i%4),
			AccountInfoRequestID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i%17), CorrelationID: fmt.Sprintf("c-%d", i),
			PartyID: parties[i%3], Consumer: consumers[i%2], Status: 200,
		}
		switch i % 7 {
		case 1:
			r.Status, r.Code, r.Reason = 403, "ACC-011", "not-bankrupt"
		case 2:
			r.Consumer, r.Status, r.Code, r.Reason = "", 401, "ACC-010", "token:expired"
		case 3:
			r.Status, r.Code, r.Reason = 400, "ACC-001", "window"
		case 4:
			r.Operation, r.Method, r.Actor, r.Consumer, r.Status = "console.view-case", "CONSOLE", "officer", "", 200
		case 5:
			r.Status, r.Code, r.Reason = 403, "ACC-011", "token:consumer"
		}
		require.NoError(t, st.Append(ctx, r))
	}
}

func all(t *testing.T, st audit.Store) []audit.Record {
	t.Helper()
	var out []audit.Record
	require.NoError(t, st.Scan(context.Background(), func(r audit.Record) error { out = append(out, r); return nil }))
	return out
}

func runQueries(t *testing.T, open Factory) {
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	st, _ := open(t)
	varied(t, st, 240, start)
	recs := all(t, st)
	require.Len(t, recs, 240)
	queries := map[string]audit.Query{
		"everything":         {},
		"case":               {Case: "00000000-0000-4000-8000-000000000003"},
		"party":              {Party: "08086001471"},
		"consumer":           {Consumer: "0192:991825827"},
		"service":            {Service: "oed"},
		"client":             {Client: "10.0.0.2"},
		"correlation":        {Correlation: "c-77"},
		"operation":          {Operation: "console.view-case"},
		"reason":             {Reason: "window"},
		"kind call":          {Kind: audit.KindCall},
		"kind unauth":        {Kind: audit.KindUnauthenticated},
		"kind access":        {Kind: audit.KindAccess},
		"allowed":            {Outcome: audit.OutcomeAllowed},
		"refused":            {Outcome: audit.OutcomeRefused},
		"status":             {Status: 403},
		"time range":         {From: start.Add(30 * time.Minute), Until: start.Add(90 * time.Minute)},
		"case, kind call":    {Case: "00000000-0000-4000-8000-000000000005", Kind: audit.KindCall},
		"party and time":     {Party: "910336819", From: start.Add(100 * time.Minute)},
		"consumer refused":   {Consumer: dsopservice.Konkursbehandling().Consumers[0], Outcome: audit.OutcomeRefused},
		"nothing matches":    {Case: "no such case"},
		"service and reason": {Service: "konkursbehandling", Reason: "not-bankrupt"},
	}
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			var want []uint64
			for _, r := range recs {
				if q.Match(r) {
					want = append(want, r.Seq)
				}
			}
			for _, oldest := range []bool{false, true} {
				q := q
				q.Oldest, q.Limit = oldest, 7
				var got []uint64
				pages := 0
				require.NoError(t, audit.Each(ctx, st, q, func(r audit.Record) error {
					got = append(got, r.Seq)
					require.NotEmpty(t, r.Raw, "records come back as stored")
					return nil
				}))
				if !oldest {
					slices.Reverse(got)
				}
				require.Equal(t, want, got, "oldest=%v", oldest)
				// Pages are at most Limit long.
				q.Before, q.After = 0, 0
				p, err := st.Query(ctx, q)
				require.NoError(t, err)
				require.LessOrEqual(t, len(p.Records), 7)
				pages++
				_ = pages
			}
		})
	}
	t.Run("a page that examined MaxScan records says where to go on, and Each goes on to the end", func(t *testing.T) {
		// A store whose database bounds the work itself (PostgreSQL) may answer whole; one that
		// examines records here must stop at MaxScan and say where to continue.
		p, err := st.Query(ctx, audit.Query{Status: 599, MaxScan: 10})
		require.NoError(t, err)
		require.Empty(t, p.Records)
		if _, examinesHere := st.(interface{ Fsyncs() uint64 }); examinesHere || isMemory(st) {
			require.NotZero(t, p.Next, "a partial page must say where to continue")
		}
		var n int
		require.NoError(t, audit.Each(ctx, st, audit.Query{Status: 599, MaxScan: 10}, func(audit.Record) error { n++; return nil }))
		require.Zero(t, n)
	})
	t.Run("counts agree with the records", func(t *testing.T) {
		for _, c := range []struct {
			by    audit.CountBy
			since time.Time
		}{{audit.CountCase, time.Time{}}, {audit.CountParty, time.Time{}}, {audit.CountTokenFailures, time.Time{}},
			{audit.CountCase, start.Add(100 * time.Minute)}, {audit.CountTokenFailures, start.Add(37 * time.Minute)}} {
			by := c.by
			want := map[string]int{}
			for _, r := range recs {
				if r.Time.Before(c.since) {
					continue
				}
				switch by {
				case audit.CountCase:
					if audit.KindOf(r) == audit.KindCall {
						want[r.AccountInfoRequestID]++
					}
				case audit.CountParty:
					if audit.KindOf(r) == audit.KindCall {
						want[r.PartyID]++
					}
				case audit.CountTokenFailures:
					if strings.HasPrefix(r.Reason, "token:") {
						want[r.Client]++
					}
				}
			}
			for k, n := range want {
				if n <= 5 {
					delete(want, k)
				}
			}
			got := map[string]int{}
			var keys []string
			require.NoError(t, st.Count(ctx, audit.CountQuery{By: by, Over: 5, Since: c.since}, func(k string, n int) error { got[k] = n; keys = append(keys, k); return nil }))
			require.Equal(t, want, got, "count by %s since %s", by, c.since)
			require.Len(t, keys, len(got), "each key once")
		}
	})
}

func isMemory(st audit.Store) bool { _, ok := st.(*audit.MemoryStore); return ok }
