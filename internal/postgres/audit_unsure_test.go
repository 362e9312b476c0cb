package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// A record whose commit reached the server but whose reply was lost is stored as delivered,
// while its caller heard of a failure and answered 503: the next write must say that this
// answer never left (issue #29: "a record whose answer never left is followed by the record
// saying so on every path").
func TestAuditStore_ACommitWithALostReplyIsFollowedByItsWithholding(t *testing.T) {
	f := pgtest.FreezableURL(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, f.URL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, Migrate(ctx, pool))
	st := &AuditStore{Pool: pool}
	rec := func(party string) *audit.Record {
		return &audit.Record{Time: time.Now(), Operation: "accounts", Method: "GET", Path: "/v2/accounts",
			PartyID: party, Consumer: "0192:974760673", Status: 200, BodySHA256: "ab"}
	}
	require.NoError(t, st.Append(ctx, rec("910336819")))

	st.beforeCommit = f.FreezeReplies
	lost := rec("999888777")
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err = st.Append(short, lost)
	cancel()
	require.Error(t, err, "the caller cannot know that its record was committed")
	st.beforeCommit = nil
	f.Thaw()

	require.Eventually(t, func() bool { return st.Append(ctx, rec("910336819")) == nil }, 10*time.Second, 50*time.Millisecond)
	var recs []audit.Record
	require.NoError(t, st.Scan(ctx, func(r audit.Record) error { recs = append(recs, r); return nil }))
	var stored, marker *audit.Record
	for i := range recs {
		switch {
		case recs[i].PartyID == "999888777" && recs[i].Status == 200:
			stored = &recs[i]
		case recs[i].PartyID == "999888777" && recs[i].Withholds != 0:
			marker = &recs[i]
		}
	}
	require.NotNil(t, stored, "the commit reached the server, so the record is there: %+v", recs)
	require.NotNil(t, marker, "a stored record whose caller heard of a failure is followed by the record saying so")
	require.Equal(t, stored.Seq, marker.Withholds)
	require.Equal(t, 503, marker.Status)
	require.Equal(t, audit.ReasonAuditWrite, marker.Reason)
	rep, err := audit.Verify(ctx, st, signer())
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
}

// A caller that gives up before its group links its record gets a record of what it answered
// (503 audit-write), not of a delivery.
func TestAuditStore_ARecordGivenUpBeforeItIsLinkedSaysWhatTheCallerGot(t *testing.T) {
	pool := testPool(t)
	st := &AuditStore{Pool: pool}
	p := &pendingAppend{rec: audit.Record{Time: time.Now(), Status: 200, PartyID: "999888777", BodySHA256: "ab"}, done: make(chan error, 1)}
	p.state.Store(abandoned)
	require.NoError(t, st.writeGroup(context.Background(), []*pendingAppend{p}))
	var got []audit.Record
	require.NoError(t, st.Scan(context.Background(), func(r audit.Record) error { got = append(got, r); return nil }))
	require.Len(t, got, 1)
	require.Equal(t, 503, got[0].Status)
	require.Equal(t, audit.ReasonAuditWrite, got[0].Reason)
	require.Empty(t, got[0].BodySHA256, "nothing was delivered")
}
