package compliance_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/compliance"
)

func at(min int) time.Time { return time.Date(2026, 11, 23, 10, min, 0, 0, time.UTC) }

func records() []audit.Record {
	two, five := 2, 5
	return []audit.Record{
		{Seq: 1, Time: at(0), Operation: "listAccounts", AccountInfoRequestID: "case-a", Consumer: "0192:974760673", PartyID: "08086001471", Status: 200, Accounts: &two},
		{Seq: 2, Time: at(1), Operation: "listTransactions", AccountInfoRequestID: "case-a", Consumer: "0192:974760673", PartyID: "08086001471", Status: 200, Transactions: &five},
		{Seq: 3, Time: at(2), Operation: "listTransactions", AccountInfoRequestID: "case-a", Status: 401, Reason: "token:expired"},
		{Seq: 4, Time: at(3), Operation: "console.reveal", AccountInfoRequestID: "case-a", PartyID: "08086001471", Actor: "Olivia"},
		{Seq: 5, Time: at(4), Operation: "listAccounts", AccountInfoRequestID: "case-b", Consumer: "0192:974760673", PartyID: "910336819", Status: 403, Reason: "window"},
		{Seq: 6, Time: at(5), Operation: "audit.reveal", AccountInfoRequestID: "case-c"},
	}
}

func TestCaseOf_SeparatesCallsFromTheBanksAccessAndCountsOnlyAuthenticatedCalls(t *testing.T) {
	c := compliance.CaseOf("case-a", records())
	require.Len(t, c.Calls, 3)
	require.Len(t, c.Access, 1)
	require.Equal(t, "console.reveal", c.Access[0].Operation)
	require.Equal(t, 1, c.Anonymous)
	require.Equal(t, []string{"08086001471"}, c.Parties)
	require.Equal(t, []string{"0192:974760673"}, c.Consumers)
	require.Equal(t, 2, c.Accounts)
	require.Equal(t, 5, c.Transactions)
	require.Equal(t, map[int]int{200: 2, 401: 1}, c.Statuses)
	require.Equal(t, at(0), c.First)
	require.Equal(t, at(2), c.Last)
}

// An answer withheld after its record was written (its encryption failed) is a call of the case,
// but nothing of it was delivered.
func TestCaseOf_AWithheldAnswerIsNotCountedAsDelivered(t *testing.T) {
	seven := 7
	recs := append(records(),
		audit.Record{Seq: 7, Time: at(6), Operation: "listTransactions", AccountInfoRequestID: "case-a", Consumer: "0192:974760673", PartyID: "08086001471", Status: 200, Transactions: &seven, BodySHA256: "abc"},
		audit.Record{Seq: 8, Time: at(6), Operation: "listTransactions", AccountInfoRequestID: "case-a", Consumer: "0192:974760673", PartyID: "08086001471", Status: 500, Code: "ACC-100", Reason: "withheld", Withholds: 7},
	)
	c := compliance.CaseOf("case-a", recs)
	require.Len(t, c.Calls, 5)
	require.Equal(t, 5, c.Transactions, "the 7 withheld transactions never left")
	require.Equal(t, map[uint64]uint64{7: 8}, c.WithheldBy)
	require.False(t, c.Delivered(recs[6]))
	require.True(t, c.Delivered(recs[1]))
	require.False(t, c.Delivered(recs[7]))
}

func TestCases_FiltersAndOrdersNewestFirst(t *testing.T) {
	ids := func(q compliance.Query) []string {
		var out []string
		for _, c := range compliance.Cases(records(), q) {
			out = append(out, c.ID)
		}
		return out
	}
	require.Equal(t, []string{"case-b", "case-a"}, ids(compliance.Query{}), "case-c has no call: only access")
	require.Equal(t, []string{"case-a"}, ids(compliance.Query{Party: "08086001471"}))
	require.Equal(t, []string{"case-b"}, ids(compliance.Query{Status: 403}))
	require.Equal(t, []string{"case-a"}, ids(compliance.Query{ID: "case-a"}))
	require.Equal(t, []string{"case-b", "case-a"}, ids(compliance.Query{ID: "case-"}))
	require.Equal(t, []string{"case-a"}, ids(compliance.Query{Until: at(3)}))
	require.Equal(t, []string{"case-b"}, ids(compliance.Query{From: at(3)}))
	require.Empty(t, ids(compliance.Query{Consumer: "0192:000000000"}))
}

func TestAnomalies_ThresholdsWindowAndTokenFailures(t *testing.T) {
	found := compliance.Anomalies(records(), compliance.Thresholds{PerCase: 2, PerParty: 1, TokenFailures: 0})
	kinds := map[string]int{}
	for _, f := range found {
		kinds[f.Kind]++
	}
	// case-a has 3 calls (its reveal is no request); 08086001471 has 2; one window refusal; one token failure.
	require.Equal(t, map[string]int{"per-case": 1, "per-party": 1, "window": 1, "token-failures": 1}, kinds)
	require.Empty(t, compliance.Anomalies(records(), compliance.DefaultThresholds())[1:], "only the window refusal under the defaults")
}
