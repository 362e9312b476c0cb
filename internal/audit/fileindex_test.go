package audit

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func filled(t *testing.T, dir string, n int) {
	t.Helper()
	st, err := OpenFileStore(dir, 4096)
	require.NoError(t, err)
	for i := range n {
		require.NoError(t, st.Append(context.Background(), &Record{Time: time.Unix(int64(i), 0), Operation: "listAccounts", Consumer: "0192:974760673",
			AccountInfoRequestID: fmt.Sprintf("case-%d", i%5), PartyID: "910336819", Status: 200}))
	}
	require.NoError(t, st.Close())
}

func caseSeqs(t *testing.T, st *FileStore, id string) []uint64 {
	t.Helper()
	var out []uint64
	require.NoError(t, Each(context.Background(), st, Query{Case: id, Oldest: true}, func(r Record) error { out = append(out, r.Seq); return nil }))
	return out
}

func TestFileIndex_RebuiltWhenMissingOrDamagedAndTheLogSaysSo(t *testing.T) {
	dir := t.TempDir()
	filled(t, dir, 100)
	idx, err := filepath.Glob(filepath.Join(dir, "*.idx"))
	require.NoError(t, err)
	require.Greater(t, len(idx), 3, "sealed segments have index files")
	want := []uint64{3, 8, 13, 18, 23, 28, 33, 38, 43, 48, 53, 58, 63, 68, 73, 78, 83, 88, 93, 98}

	require.NoError(t, os.Remove(idx[0]))
	b, err := os.ReadFile(idx[1])
	require.NoError(t, err)
	b[len(b)/2] ^= 0xff
	require.NoError(t, os.WriteFile(idx[1], b, 0o600))

	var logs bytes.Buffer
	st, err := OpenFileStoreWith(dir, FileOptions{MaxSegmentBytes: 4096, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	require.NoError(t, err)
	defer st.Close()
	require.Contains(t, logs.String(), `"why":"missing"`)
	require.Contains(t, logs.String(), `checksum`)
	require.Equal(t, want, caseSeqs(t, st, "case-2"))
	for _, p := range idx[:2] {
		_, err := openIndex(filepath.Join(dir, filepath.Base(p[:len(p)-4])+".jsonl"))
		require.NoError(t, err, "the rebuilt index was written")
	}
}

func TestFileIndex_ASegmentChangedUnderItsIndexIsIndexedAgain(t *testing.T) {
	dir := t.TempDir()
	filled(t, dir, 60)
	segs, err := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	require.NoError(t, err)
	// Swap the first two lines of a sealed segment: same size, other offsets.
	b, err := os.ReadFile(segs[1])
	require.NoError(t, err)
	lines := bytes.SplitAfter(b, []byte("\n"))
	lines[0], lines[1] = lines[1], lines[0]
	require.NoError(t, os.WriteFile(segs[1], bytes.Join(lines, nil), 0o600))

	var logs bytes.Buffer
	st, err := OpenFileStoreWith(dir, FileOptions{MaxSegmentBytes: 4096, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	require.NoError(t, err)
	defer st.Close()
	var n int
	require.NoError(t, Each(context.Background(), st, Query{Oldest: true}, func(Record) error { n++; return nil }))
	require.Equal(t, 60, n, "every record is still found")
	require.Contains(t, logs.String(), "audit index rebuilt")
	rep, err := Verify(context.Background(), st, testSigner)
	require.NoError(t, err)
	require.False(t, rep.OK(), "the reordering itself is Verify's to report")
}
