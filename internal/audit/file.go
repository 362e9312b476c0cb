package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/durable"
)

// FileStore is the append-only audit log of the embedded default: JSON lines in segment files
// (one per UTC day, or sooner when a segment reaches MaxSegmentBytes), each record fsynced
// before Append returns. Appends that arrive together share one fsync (group commit, issue #15):
// each writes its line, then waits until an fsync that began after its write has ended. One
// process owns the directory (an exclusive lock); a torn last line left by a crash is cut off at
// open, since its request was never answered.
type FileStore struct {
	// Repaired is the torn last record cut at open, if a crash left one; the caller logs it.
	Repaired *durable.Torn

	dir             string
	maxSegmentBytes int64
	logger          *slog.Logger
	readOnly        bool

	// syncMu is held by the one append that fsyncs for its group; it is taken before mu.
	syncMu sync.Mutex
	synced uint64 // the last seq known durable (under mu)
	fsyncs atomic.Uint64
	// retired are segments rotated away; rotate fsynced them, the next fsync closes them (a
	// waiting append may still hold one).
	retired []*os.File

	mu       sync.Mutex
	lock     *os.File
	cur      *os.File
	curDay   string
	curSize  int64
	lastSeq  uint64 // 0 before the first record (after the checkpoint, if expiry left one)
	lastHash string
	cp       *Checkpoint
	broken   error
	// unsynced are the records written since the last fsync that succeeded (without Raw); after
	// a failed fsync they become unsure: their bytes may be on disk although their callers were
	// told the write failed, so heal writes a marker for each (WithholdingOf) before anything else.
	unsynced  []Record
	unsure    []Record
	lost      [][2]uint64 // seq ranges declared unsure: an append among them failed, whatever came after
	healable  bool        // broken by a failed fsync, which a fresh segment may mend
	healAfter time.Time   // no heal is tried before this (one a second)
	syncFile  func(*os.File) error
	// sealed are the indexes of the segments before the active one, oldest first; active is the
	// in-memory index of the segment being written (fileindex.go). Both under mu.
	sealed []*segIndex
	active *segIndex
}

// FileOptions are the file store's settings.
type FileOptions struct {
	// MaxSegmentBytes starts a new segment when one reaches this size (default 64 MiB).
	MaxSegmentBytes int64
	// Logger hears of indexes rebuilt and other repairs (default: discarded).
	Logger *slog.Logger
	// ReadOnly opens the log for the audit tools without the writer's lock.
	ReadOnly bool
}

const (
	segmentPrefix  = "audit-"
	segmentSuffix  = ".jsonl"
	checkpointFile = "checkpoint.json"
)

// OpenFileStore opens (or creates) the audit log in dir.
func OpenFileStore(dir string, maxSegmentBytes int64) (*FileStore, error) {
	return OpenFileStoreWith(dir, FileOptions{MaxSegmentBytes: maxSegmentBytes})
}

// OpenFileStoreReadOnly opens the log for the audit tools without taking the writer's lock.
func OpenFileStoreReadOnly(dir string) (*FileStore, error) {
	return OpenFileStoreWith(dir, FileOptions{ReadOnly: true})
}

// OpenFileStoreWith opens the audit log in dir: as its one writer (created if needed), or
// read-only for the audit tools. Segments without a sound index get one rebuilt, and the log
// says so.
func OpenFileStoreWith(dir string, o FileOptions) (*FileStore, error) {
	if o.MaxSegmentBytes <= 0 {
		o.MaxSegmentBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &FileStore{dir: dir, maxSegmentBytes: o.MaxSegmentBytes, logger: o.Logger, readOnly: o.ReadOnly, syncFile: (*os.File).Sync}
	if o.ReadOnly {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("audit directory: %w", err)
		}
		s.broken = errors.New("audit log opened read-only")
		if err := s.loadIndexes(context.Background(), true); err != nil {
			return nil, err
		}
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("audit log %s is in use by another process: %w", dir, err)
	}
	s.lock = lock
	if err := s.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	if err := s.loadIndexes(context.Background(), false); err != nil {
		s.closeIndexes()
		lock.Close()
		return nil, err
	}
	return s, nil
}

// loadIndexes opens the index of every sealed segment, rebuilding the ones that are missing or
// unsound; withActive (the read-only tools) also indexes the last segment in memory.
func (s *FileStore) loadIndexes(ctx context.Context, withActive bool) error {
	segs, err := s.segments()
	if err != nil {
		return err
	}
	sealed := segs
	if len(segs) > 0 && !withActive {
		sealed = segs[:len(segs)-1] // the active one: recover indexed it
	}
	if withActive && len(segs) > 0 {
		sealed = segs[:len(segs)-1]
		act, err := buildIndex(ctx, segs[len(segs)-1])
		if err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
		s.active = act
	}
	for _, seg := range sealed {
		ix, err := s.sealedIndex(ctx, seg)
		if err != nil {
			return err
		}
		s.sealed = append(s.sealed, ix)
	}
	return nil
}

// sealedIndex opens a sealed segment's index, or rebuilds it from the segment (and writes it,
// where the directory allows).
func (s *FileStore) sealedIndex(ctx context.Context, seg string) (*segIndex, error) {
	ix, err := openIndex(seg)
	if err == nil {
		return ix, nil
	}
	why := err.Error()
	if errors.Is(err, os.ErrNotExist) {
		why = "missing"
	}
	start := time.Now()
	ix, err = buildIndex(ctx, seg)
	if err != nil {
		// The server still starts and verify still runs: queries that reach this segment say
		// it is damaged.
		s.logger.Error("audit segment cannot be indexed; queries that reach it fail until it is restored from backup (dsop-bank audit verify names the first broken record)",
			"segment", filepath.Base(seg), "error", err.Error())
		return &segIndex{path: seg, damaged: fmt.Errorf("audit segment %s is damaged: %w; restore it from backup (dsop-bank audit verify names the first broken record)", filepath.Base(seg), err)}, nil
	}
	werr := ix.write()
	s.logger.Warn("audit index rebuilt from its segment", "segment", filepath.Base(seg), "why", why,
		"records", ix.count, "took", time.Since(start).String(), "written", werr == nil)
	if werr != nil {
		return ix, nil // kept in memory: the tools may not write the directory
	}
	if disk, err := openIndex(seg); err == nil {
		return disk, nil
	}
	return ix, nil
}

func (s *FileStore) closeIndexes() {
	for _, ix := range s.sealed {
		ix.close()
	}
	s.sealed = nil
}
func (s *FileStore) segments() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, segmentPrefix) && strings.HasSuffix(n, segmentSuffix) {
			out = append(out, filepath.Join(s.dir, n))
		}
	}
	sort.Strings(out) // names carry the zero-padded first Seq
	return out, nil
}

// recover finds the chain's head, cutting a torn last line.
func (s *FileStore) recover() error {
	segs, err := s.segments()
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		cp, err := s.Checkpoint(context.Background())
		if err != nil {
			return err
		}
		s.cp = cp
		return nil
	}
	// The active segment is read whole by the rule of durable.ReadLines: a torn last record (a
	// write that did not finish, never acknowledged, so never answered) is cut; damage anywhere
	// else stops the server, which must not append after a record it cannot read.
	last := segs[len(segs)-1]
	var first, r Record
	n := 0
	act := &segIndex{path: last}
	var off int64
	torn, err := durable.ReadLines(last, true, func(line []byte) error {
		rec, err := Decode(line)
		if err != nil {
			return err
		}
		if rec.Hash == "" {
			return errors.New("record without hash")
		}
		if n == 0 {
			first = rec
		}
		r, n = rec, n+1
		act.add(rec, off, int64(len(line)+1))
		off += int64(len(line) + 1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit log: %w; to repair, restore the segment from backup (dsop-bank audit verify names the first broken record)", err)
	}
	s.Repaired = torn
	if n > 0 {
		s.lastSeq, s.lastHash = r.Seq, r.Hash
		s.curDay = first.Time.UTC().Format(time.DateOnly)
	}
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	s.cur, s.curSize, s.active = f, st.Size(), act
	return nil
}

// Append implements Store.
func (s *FileStore) Append(_ context.Context, r *Record) error {
	r.HashBody() // before the lock: appends hash their bodies in parallel
	seq, err := s.write(r)
	if err != nil {
		return err
	}
	return s.syncThrough(seq)
}

// write links and writes the record; it is not durable until syncThrough returns.
func (s *FileStore) write(r *Record) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil && !s.heal() {
		return 0, fmt.Errorf("audit log unavailable: %w", s.broken)
	}
	rec := *r
	if err := Link(&rec, s.lastSeq, s.lastHash, s.cp); err != nil {
		return 0, err
	}
	line := append(rec.Raw[:len(rec.Raw):len(rec.Raw)], '\n')
	day := rec.Time.Format(time.DateOnly)
	if s.cur == nil || s.curDay != day || s.curSize+int64(len(line)) > s.maxSegmentBytes {
		if err := s.rotate(rec.Seq, day); err != nil {
			return 0, err
		}
	}
	if _, err := s.cur.Write(line); err != nil {
		return 0, s.fail(err)
	}
	s.active.add(rec, s.curSize, int64(len(line)))
	s.curSize += int64(len(line))
	s.lastSeq, s.lastHash = rec.Seq, rec.Hash
	kept := rec
	kept.Raw, kept.Body = nil, nil
	s.unsynced = append(s.unsynced, kept)
	*r = rec
	return rec.Seq, nil
}

// syncThrough returns once the record seq is durable: at most one fsync runs at a time, and it
// covers every line written before it began, so the appends waiting behind it usually find
// their record already durable.
func (s *FileStore) syncThrough(seq uint64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	if s.wasLost(seq) {
		err := s.broken
		s.mu.Unlock()
		if err == nil {
			err = errors.New("the fsync of its segment failed")
		}
		return fmt.Errorf("write audit record: %w", err)
	}
	if s.synced >= seq {
		s.mu.Unlock()
		return nil
	}
	if s.broken != nil {
		err := s.broken
		s.mu.Unlock()
		return fmt.Errorf("audit log unavailable: %w", err)
	}
	f, through, retired := s.cur, s.lastSeq, s.retired
	s.retired = nil
	s.mu.Unlock()
	for _, old := range retired {
		_ = old.Close()
	}
	err := s.syncFile(f)
	s.fsyncs.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		return s.syncFailed(f, err)
	}
	s.synced = max(s.synced, through)
	n := 0
	for n < len(s.unsynced) && s.unsynced[n].Seq <= through {
		n++
	}
	s.unsynced = append(s.unsynced[:0], s.unsynced[n:]...)
	return nil
}

// syncFailed takes the log out of service after a failed fsync (under mu). The kernel may have
// dropped the pages, so nothing more is written to that segment; every record written since
// the last good fsync is unsure — its caller hears of a failure, yet its bytes may be on disk
// — and heal starts a fresh segment with a record saying so of each.
func (s *FileStore) syncFailed(f *os.File, err error) error {
	if s.broken == nil {
		s.broken = fmt.Errorf("fsync %s: %w", f.Name(), err)
		s.healable = true
		s.logger.Error("audit log fsync failed; no record is taken until a fresh segment can be written", "segment", filepath.Base(f.Name()), "error", err.Error())
	}
	if len(s.unsynced) > 0 {
		s.lost = append(s.lost, [2]uint64{s.unsynced[0].Seq, s.unsynced[len(s.unsynced)-1].Seq})
	}
	s.unsure = append(s.unsure, s.unsynced...)
	s.unsynced = nil
	return fmt.Errorf("write audit record: %w", s.broken)
}

// wasLost reports whether seq was written before a failed fsync (under mu): its caller must
// hear of the failure even if a later heal made the log durable again.
func (s *FileStore) wasLost(seq uint64) bool {
	for _, r := range s.lost {
		if seq >= r[0] && seq <= r[1] {
			return true
		}
	}
	return false
}

// heal tries, at most once a second, to put a log broken by a failed fsync back into service
// (under mu): it opens a fresh segment, writes in it the record of each unsure record's answer
// never leaving (WithholdingOf), and fsyncs it and the directory — the probe write. Only when
// all of that is durable does the log take records again. The markers follow the unsure records
// in the chain; if the kernel dropped those records, audit verify names the gap just before the
// markers that explain it.
func (s *FileStore) heal() bool {
	if !s.healable || s.readOnly || s.lock == nil || time.Now().Before(s.healAfter) {
		return false
	}
	s.healAfter = time.Now().Add(time.Second)
	name := filepath.Join(s.dir, fmt.Sprintf("%s%020d%s", segmentPrefix, s.lastSeq+1, segmentSuffix))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		s.logger.Error("audit log still out of service: a fresh segment cannot be created", "error", err.Error())
		return false
	}
	now := time.Now()
	lastSeq, lastHash, cp := s.lastSeq, s.lastHash, s.cp
	ix := &segIndex{path: name}
	var size int64
	for _, u := range s.unsure {
		m := WithholdingOf(u, now)
		if err = Link(&m, lastSeq, lastHash, cp); err != nil {
			break
		}
		line := append(m.Raw[:len(m.Raw):len(m.Raw)], '\n')
		if _, err = f.Write(line); err != nil {
			break
		}
		ix.add(m, size, int64(len(line)))
		size += int64(len(line))
		lastSeq, lastHash, cp = m.Seq, m.Hash, nil
	}
	if err == nil {
		err = s.syncFile(f)
	}
	if err == nil {
		err = durable.SyncDir(s.dir)
	}
	if err != nil {
		f.Close()
		_ = os.Remove(name)
		s.logger.Error("audit log still out of service: the probe write of a fresh segment failed", "error", err.Error())
		return false
	}
	if s.cur != nil {
		s.retired = append(s.retired, s.cur)
		s.sealActive()
	}
	s.logger.Warn("audit log back in service in a fresh segment after a failed fsync; the answers of the records written before it never left, and a record says so of each",
		"segment", filepath.Base(name), "withheld", len(s.unsure))
	s.cur, s.curDay, s.curSize, s.active = f, now.UTC().Format(time.DateOnly), size, ix
	s.lastSeq, s.lastHash, s.cp = lastSeq, lastHash, cp
	s.synced, s.unsure, s.broken, s.healable = lastSeq, nil, nil, false
	return true
}

// Fsyncs is how many fsyncs the appends have made (fewer than appends when they share them).
func (s *FileStore) Fsyncs() uint64 { return s.fsyncs.Load() }

// fail undoes a partial write; if that is impossible the log refuses every later append, so
// that no request is ever answered without its record.
func (s *FileStore) fail(err error) error {
	if terr := s.cur.Truncate(s.curSize); terr != nil {
		s.broken = fmt.Errorf("%w (and cutting the partial record failed: %v)", err, terr)
	}
	return fmt.Errorf("write audit record: %w", err)
}

func (s *FileStore) rotate(firstSeq uint64, day string) error {
	if s.cur != nil {
		if err := s.syncFile(s.cur); err != nil {
			return s.syncFailed(s.cur, err)
		}
		s.synced, s.unsynced = s.lastSeq, nil
		s.retired = append(s.retired, s.cur)
		s.cur = nil
		s.sealActive()
	}
	name := filepath.Join(s.dir, fmt.Sprintf("%s%020d%s", segmentPrefix, firstSeq, segmentSuffix))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("new audit segment: %w", err)
	}
	if err := durable.SyncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.cur, s.curDay, s.curSize = f, day, 0
	s.active = &segIndex{path: name}
	return nil
}

// sealActive writes the index of the segment just closed and serves it from disk from now on.
// Failing to write it costs nothing but time: the segment is indexed again when next opened.
func (s *FileStore) sealActive() {
	ix := s.active
	s.active = nil
	if ix == nil || ix.count == 0 {
		return
	}
	if err := ix.write(); err != nil {
		s.logger.Warn("audit index could not be written; it is kept in memory and rebuilt at the next start", "segment", filepath.Base(ix.path), "error", err.Error())
		s.sealed = append(s.sealed, ix)
		return
	}
	if disk, err := openIndex(ix.path); err == nil {
		ix = disk
	}
	s.sealed = append(s.sealed, ix)
}

// Scan implements Store.
func (s *FileStore) Scan(ctx context.Context, fn func(Record) error) error {
	segs, err := s.segments()
	if err != nil {
		return err
	}
	for _, seg := range segs {
		if err := scanSegment(ctx, seg, fn); err != nil {
			return err
		}
	}
	return nil
}

func scanSegment(ctx context.Context, seg string, fn func(Record) error) error {
	f, err := os.Open(seg)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			// Nothing more, or a record still being written by the server: not part of the chain yet.
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		r, derr := Decode(bytes.TrimSuffix(b, []byte{'\n'}))
		if derr != nil {
			return &ScanError{Where: fmt.Sprintf("%s line %d", filepath.Base(seg), line), Err: derr}
		}
		if ferr := fn(r); ferr != nil {
			return ferr
		}
	}
}

// Checkpoint implements Store.
func (s *FileStore) Checkpoint(context.Context) (*Checkpoint, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	return &cp, nil
}

// Expire implements Store: whole segments whose every record is older than before go, except
// the segment being written. The checkpoint is written (and synced) before any file is removed.
func (s *FileStore) Expire(ctx context.Context, before time.Time, signer *Signer) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	segs, err := s.segments()
	if err != nil {
		return 0, err
	}
	var drop []string
	removed := 0
	for i := 0; i < len(segs)-1; i++ {
		var last time.Time
		n := 0
		if err := scanSegment(ctx, segs[i], func(r Record) error { last, n = r.Time, n+1; return nil }); err != nil {
			return 0, err
		}
		if !last.Before(before) {
			break
		}
		drop = append(drop, segs[i])
		removed += n
	}
	if len(drop) == 0 {
		return 0, nil
	}
	var next Record
	if err := scanSegment(ctx, segs[len(drop)], func(r Record) error { next = r; return errStop }); err != nil && !errors.Is(err, errStop) {
		return 0, err
	}
	prev, err := s.Checkpoint(ctx)
	if err != nil {
		return 0, err
	}
	cp := &Checkpoint{Seq: next.Seq, PrevHash: next.PrevHash, Time: time.Now().UTC(), Removed: uint64(removed)}
	if prev != nil {
		cp.Removed += prev.Removed
	}
	signer.Sign(cp)
	b, _ := json.MarshalIndent(cp, "", "  ")
	if err := durable.WriteFile(filepath.Join(s.dir, checkpointFile), b); err != nil {
		return 0, err
	}
	for _, d := range drop {
		if err := os.Remove(d); err != nil {
			return 0, err
		}
		_ = os.Remove(indexPath(d))
	}
	keep := s.sealed[:0]
	for _, ix := range s.sealed {
		if slices.Contains(drop, ix.path) {
			ix.close()
			continue
		}
		keep = append(keep, ix)
	}
	s.sealed = keep
	return removed, durable.SyncDir(s.dir)
}

// Close implements Store.
func (s *FileStore) Close() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.unsure) > 0 {
		s.healAfter = time.Time{}
		s.heal() // a last chance to say which answers never left
	}
	var err error
	for _, f := range s.retired {
		_ = f.Close()
	}
	s.retired = nil
	if s.cur != nil {
		err = s.cur.Close()
		s.cur = nil
	}
	if s.lock != nil {
		_ = s.lock.Close()
		s.lock = nil
	}
	s.closeIndexes()
	if s.broken == nil {
		s.broken = errors.New("audit log closed")
	}
	return err
}

// Ping reports whether the log can take records.
func (s *FileStore) Ping(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil && !s.heal() {
		return s.broken
	}
	_, err := os.Stat(s.dir)
	return err
}
