package audit_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
)

// After a failed fsync the records written since the last good one are unsure: their callers
// were told the write failed, yet their bytes may be on disk. The log takes nothing until a
// fresh segment holds a record saying so of each, and then serves again (issue #29).
func TestFileStoreHealsAfterFailedFsync(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := audit.OpenFileStore(dir, 0)
	require.NoError(t, err)
	defer s.Close()
	delivered := func(party string) *audit.Record {
		return &audit.Record{Time: time.Now(), Operation: "accounts", Method: "GET", Path: "/v2/accounts",
			PartyID: party, Consumer: "0192:974760673", Status: 200, BodySHA256: "ab"}
	}
	require.NoError(t, s.Append(ctx, delivered("910336819")))

	failing := true
	audit.SetSyncFile(s, func(f *os.File) error {
		if failing {
			return errors.New("input/output error")
		}
		return f.Sync()
	})
	lost := delivered("999888777")
	require.Error(t, s.Append(ctx, lost), "a record whose fsync failed must not be reported written")
	require.NotZero(t, lost.Seq)
	require.Error(t, s.Ping(ctx), "the log stays out of service while the disk fails")
	audit.HealNow(s)
	require.Error(t, s.Append(ctx, delivered("111222333")), "no record is taken while the probe write fails")

	failing = false
	audit.HealNow(s)
	require.NoError(t, s.Ping(ctx), "a good probe write puts the log back into service")
	require.NoError(t, s.Append(ctx, delivered("910336819")))

	var recs []audit.Record
	require.NoError(t, s.Scan(ctx, func(r audit.Record) error { recs = append(recs, r); return nil }))
	withheld := map[uint64]audit.Record{}
	for _, r := range recs {
		if r.Withholds != 0 {
			withheld[r.Withholds] = r
		}
	}
	for _, r := range recs {
		if r.Status == 200 && r.Seq != recs[0].Seq && r.Seq != recs[len(recs)-1].Seq {
			m, ok := withheld[r.Seq]
			require.True(t, ok, "record %d was reported failed to its caller, so a later record must say its answer never left", r.Seq)
			require.Equal(t, 503, m.Status)
			require.Equal(t, audit.ReasonAuditWrite, m.Reason)
			require.Equal(t, r.PartyID, m.PartyID)
			require.Greater(t, m.Seq, r.Seq)
		}
	}
	require.Contains(t, withheld, lost.Seq)
	res, err := audit.Verify(ctx, s, nil)
	require.NoError(t, err)
	require.True(t, res.OK(), "the chain runs through the markers: %+v", res)

	// What is on disk reads back the same after a restart.
	require.NoError(t, s.Close())
	s2, err := audit.OpenFileStore(dir, 0)
	require.NoError(t, err)
	defer s2.Close()
	require.NoError(t, s2.Append(ctx, delivered("910336819")))
}
