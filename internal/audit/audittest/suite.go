// Package audittest is the one test suite every audit.Store implementation passes.
package audittest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
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
