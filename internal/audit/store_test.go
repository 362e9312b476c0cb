package audit_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/audit/audittest"
)

type memTamper struct{ m *audit.MemoryStore }

func (mt memTamper) Edit(t *testing.T, seq uint64) {
	rs := mt.m.Records()
	rs[seq-1].PartyID = "910000000"
	mt.m.SetRecords(rs)
}

func (mt memTamper) Delete(t *testing.T, seq uint64) {
	rs := mt.m.Records()
	mt.m.SetRecords(append(rs[:seq-1], rs[seq:]...))
}

func (mt memTamper) Swap(t *testing.T, a, b uint64) {
	rs := mt.m.Records()
	rs[a-1], rs[b-1] = rs[b-1], rs[a-1]
	mt.m.SetRecords(rs)
}

func TestMemoryStore(t *testing.T) {
	audittest.Run(t, func(t *testing.T) (audit.Store, audittest.Tamperer) {
		m := &audit.MemoryStore{}
		return m, memTamper{m}
	})
}

// fileTamper edits the segment files as lines of text.
type fileTamper struct{ dir string }

func (ft fileTamper) lines(t *testing.T) (map[string][]string, []string) {
	segs, err := filepath.Glob(filepath.Join(ft.dir, "audit-*.jsonl"))
	require.NoError(t, err)
	sort.Strings(segs)
	out := map[string][]string{}
	for _, s := range segs {
		b, err := os.ReadFile(s)
		require.NoError(t, err)
		out[s] = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	return out, segs
}

func (ft fileTamper) rewrite(t *testing.T, f func(all []string) []string) {
	byseg, segs := ft.lines(t)
	var all []string
	var sizes []int
	for _, s := range segs {
		all = append(all, byseg[s]...)
		sizes = append(sizes, len(byseg[s]))
	}
	all = f(all)
	for i, s := range segs {
		n := min(sizes[i], len(all))
		if i == len(segs)-1 {
			n = len(all)
		}
		require.NoError(t, os.WriteFile(s, []byte(strings.Join(all[:n], "\n")+"\n"), 0o600))
		all = all[n:]
	}
}

func (ft fileTamper) Edit(t *testing.T, seq uint64) {
	ft.rewrite(t, func(all []string) []string {
		all[seq-1] = strings.Replace(all[seq-1], `"party_id":"910336819"`, `"party_id":"910000000"`, 1)
		return all
	})
}

func (ft fileTamper) Delete(t *testing.T, seq uint64) {
	ft.rewrite(t, func(all []string) []string { return append(all[:seq-1], all[seq:]...) })
}

func (ft fileTamper) Swap(t *testing.T, a, b uint64) {
	ft.rewrite(t, func(all []string) []string { all[a-1], all[b-1] = all[b-1], all[a-1]; return all })
}

func openFile(t *testing.T, dir string) *audit.FileStore {
	t.Helper()
	st, err := audit.OpenFileStore(dir, 4096)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func TestFileStore(t *testing.T) {
	audittest.Run(t, func(t *testing.T) (audit.Store, audittest.Tamperer) {
		dir := t.TempDir()
		return openFile(t, dir), fileTamper{dir}
	})
}

func TestFileStore_ContinuesTheChainAfterReopenAndCutsATornRecord(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := audit.OpenFileStore(dir, 0)
	require.NoError(t, err)
	for range 3 {
		require.NoError(t, st.Append(ctx, &audit.Record{Time: time.Now(), Status: 200}))
	}
	require.NoError(t, st.Close())
	segs, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	require.Len(t, segs, 1)
	f, err := os.OpenFile(segs[0], os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, _ = f.WriteString(`{"seq":4,"time":"2026-`) // a crash in the middle of a write
	f.Close()

	st = openFile(t, dir)
	r := &audit.Record{Time: time.Now(), Status: 200}
	require.NoError(t, st.Append(ctx, r))
	require.EqualValues(t, 4, r.Seq)
	rep, err := audit.Verify(ctx, st, audit.NewSigner([]byte("0123456789abcdef0123456789abcdef")))
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
	b, _ := os.ReadFile(segs[0])
	require.Equal(t, 4, bytes.Count(b, []byte("\n")))
}

func TestFileStore_OneWriterAtATime(t *testing.T) {
	dir := t.TempDir()
	openFile(t, dir)
	_, err := audit.OpenFileStore(dir, 0)
	require.ErrorContains(t, err, "in use")
}

// Concurrent appends share fsyncs (group commit) and still form one chain, across segment
// rotations, with every record there after a reopen.
func TestFileStore_ConcurrentAppendsFormOneChainAcrossRotations(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := audit.OpenFileStore(dir, 4<<10) // a few records per segment: many rotations
	require.NoError(t, err)
	const writers, each = 16, 25
	errs := make(chan error, writers*each)
	for range writers {
		go func() {
			for range each {
				errs <- st.Append(ctx, &audit.Record{Time: time.Now(), Status: 200, Path: strings.Repeat("x", 200)})
			}
		}()
	}
	for range writers * each {
		require.NoError(t, <-errs)
	}
	require.LessOrEqual(t, st.Fsyncs(), uint64(writers*each))
	require.NoError(t, st.Close())
	segs, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	require.Greater(t, len(segs), 10, "the test rotated segments while appending")

	st = openFile(t, dir)
	rep, err := audit.Verify(ctx, st, audit.NewSigner([]byte("0123456789abcdef0123456789abcdef")))
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
	n := 0
	require.NoError(t, st.Scan(ctx, func(audit.Record) error { n++; return nil }))
	require.Equal(t, writers*each, n)
}

// BenchmarkFileAppend_Parallel reports the fsyncs per append of concurrent appends.
func BenchmarkFileAppend_Parallel(b *testing.B) {
	st, err := audit.OpenFileStore(b.TempDir(), 0)
	require.NoError(b, err)
	b.Cleanup(func() { _ = st.Close() })
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := st.Append(context.Background(), &audit.Record{Time: time.Now(), Status: 200}); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(st.Fsyncs())/float64(b.N), "fsyncs/append")
}
