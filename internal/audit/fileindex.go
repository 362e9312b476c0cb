package audit

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/dsop-bank/dsop-bank/internal/durable"
)

// The file store's index (docs/compliance.md "Audit log", indexes): one file per sealed segment,
// audit-<first seq>.idx beside audit-<first seq>.jsonl, so that a lookup by case, party,
// consumer, client, service, reason or kind reads the records it returns and a few index pages,
// never the log. The segment being written keeps the same index in memory. An index that is
// missing, damaged (checksum) or does not describe its segment (size, or a record not where it
// says) is rebuilt from the segment, and the log says so.
//
// Layout, little-endian:
//
//	header   magic "DSOPAIX1", segment size, record count, first seq, min time, max time
//	         (Unix ns), entry count                                         (8 × 8 bytes)
//	offsets  the byte offset of each record in the segment, in Seq order    (count × 8)
//	entries  (key, seq) pairs sorted by key then seq                         (entries × 16)
//	trailer  CRC-32C of everything before it                                 (4 bytes)
//
// A key is an index kind in its top byte and 56 bits of the FNV-1a hash of the value: a hash
// collision only costs a read, since every record found is checked against the query.

const (
	indexMagic  = "DSOPAIX1"
	indexSuffix = ".idx"
	headerSize  = 64
	entrySize   = 16
)

type indexKind uint8

const (
	ixCase indexKind = iota + 1
	ixParty
	ixConsumer
	ixClient
	ixService
	ixReason
	ixKind
	ixCountCase
	ixCountParty
	ixCountTokenFailures
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func ixKey(k indexKind, value string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(value))
	return uint64(k)<<56 | h.Sum64()&(1<<56-1)
}

// indexKeys are the keys a record is found under.
func indexKeys(r Record) []uint64 {
	keys := make([]uint64, 0, 10)
	add := func(k indexKind, v string) {
		if v != "" {
			keys = append(keys, ixKey(k, v))
		}
	}
	add(ixCase, r.AccountInfoRequestID)
	add(ixParty, r.PartyID)
	add(ixConsumer, r.Consumer)
	add(ixClient, r.Client)
	add(ixService, r.Service)
	add(ixReason, r.Reason)
	add(ixKind, string(KindOf(r)))
	add(ixCountCase, countKey(CountCase, r))
	add(ixCountParty, countKey(CountParty, r))
	add(ixCountTokenFailures, countKey(CountTokenFailures, r))
	return keys
}

// queryKey is the most selective index a query can use, if any.
func queryKey(q Query) (uint64, bool) {
	for _, c := range []struct {
		k indexKind
		v string
	}{{ixCase, q.Case}, {ixParty, q.Party}, {ixClient, q.Client}, {ixReason, q.Reason}, {ixConsumer, q.Consumer}, {ixService, q.Service}, {ixKind, string(q.Kind)}} {
		if c.v != "" {
			return ixKey(c.k, c.v), true
		}
	}
	return 0, false
}

func countIndex(by CountBy) (indexKind, error) {
	switch by {
	case CountCase:
		return ixCountCase, nil
	case CountParty:
		return ixCountParty, nil
	case CountTokenFailures:
		return ixCountTokenFailures, nil
	}
	return 0, fmt.Errorf("audit count by %q: unknown grouping", by)
}

// segIndex is the index of one segment: in memory for the segment being written, on disk (read
// with ReadAt) for a sealed one.
type segIndex struct {
	path     string // the segment
	firstSeq uint64
	count    uint64
	size     int64
	minTime  int64
	maxTime  int64
	// In memory (the active segment, or a sealed one whose index file could not be written).
	offsets []int64
	entries []indexEntry // sorted, or nil while mem is used
	mem     map[uint64][]uint64
	// On disk.
	file     *os.File
	nEntries uint64
	// damaged is why the segment could not be indexed: every query that reaches it says so.
	damaged error
	// irregular maps seq to offset for a segment whose records are not in consecutive Seq order
	// (a damaged or edited segment: Verify reports it); such an index stays in memory.
	irregular map[uint64]int64
	ordered   []uint64 // the seqs of an irregular segment, ascending
}

// seqAt is the i-th seq of the segment in Seq order.
func (ix *segIndex) seqAt(i int) uint64 {
	if ix.ordered != nil {
		return ix.ordered[i]
	}
	return ix.firstSeq + uint64(i)
}

type indexEntry struct{ key, seq uint64 }

// add indexes record r, stored at off (the active segment).
func (ix *segIndex) add(r Record, off, size int64) {
	if ix.count == 0 {
		ix.firstSeq = r.Seq
	}
	if ix.mem == nil {
		ix.mem = map[uint64][]uint64{}
	}
	ix.offsets = append(ix.offsets, off)
	if ix.irregular != nil {
		ix.irregular[r.Seq] = off
		ix.ordered = append(ix.ordered, r.Seq)
	}
	ix.count++
	ix.size = off + size
	t := r.Time.UnixNano()
	if ix.count == 1 || t < ix.minTime {
		ix.minTime = t
	}
	if ix.count == 1 || t > ix.maxTime {
		ix.maxTime = t
	}
	for _, k := range indexKeys(r) {
		ix.mem[k] = append(ix.mem[k], r.Seq)
	}
}

func (ix *segIndex) lastSeq() uint64 {
	if ix.ordered != nil {
		return ix.ordered[len(ix.ordered)-1]
	}
	return ix.firstSeq + ix.count - 1
}

// offset is where record seq starts in the segment.
func (ix *segIndex) offset(seq uint64) (int64, error) {
	if ix.irregular != nil {
		off, ok := ix.irregular[seq]
		if !ok {
			return 0, errStaleIndex
		}
		return off, nil
	}
	i := seq - ix.firstSeq
	if seq < ix.firstSeq || i >= ix.count {
		return 0, errStaleIndex
	}
	if ix.file == nil {
		return ix.offsets[i], nil
	}
	var b [8]byte
	if _, err := ix.file.ReadAt(b[:], headerSize+int64(i)*8); err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(b[:])), nil
}

// seqs returns the seqs indexed under key, ascending.
func (ix *segIndex) seqs(key uint64) ([]uint64, error) {
	if ix.file == nil {
		if ix.mem != nil {
			return slices.Clone(ix.mem[key]), nil
		}
		i := sort.Search(len(ix.entries), func(i int) bool { return ix.entries[i].key >= key })
		var out []uint64
		for ; i < len(ix.entries) && ix.entries[i].key == key; i++ {
			out = append(out, ix.entries[i].seq)
		}
		return out, nil
	}
	base := int64(headerSize) + int64(ix.count)*8
	var rerr error
	read := func(i int) indexEntry {
		var b [entrySize]byte
		if _, err := ix.file.ReadAt(b[:], base+int64(i)*entrySize); err != nil && rerr == nil {
			rerr = err
		}
		return indexEntry{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
	}
	i := sort.Search(int(ix.nEntries), func(i int) bool { return read(i).key >= key })
	var out []uint64
	// The entries of one key are read in blocks.
	const block = 256
	for i < int(ix.nEntries) && rerr == nil {
		n := min(block, int(ix.nEntries)-i)
		buf := make([]byte, n*entrySize)
		if _, err := ix.file.ReadAt(buf, base+int64(i)*entrySize); err != nil {
			return nil, err
		}
		for j := 0; j < n; j++ {
			e := buf[j*entrySize:]
			if binary.LittleEndian.Uint64(e[:8]) != key {
				return out, rerr
			}
			out = append(out, binary.LittleEndian.Uint64(e[8:16]))
		}
		i += n
	}
	return out, rerr
}

// kindEntries returns the index's entries of one kind in key order, as a stream (Count).
func (ix *segIndex) kindEntries(kind indexKind) (func() (indexEntry, bool, error), error) {
	lo, hi := uint64(kind)<<56, uint64(kind+1)<<56
	if ix.file == nil {
		es := ix.entries
		if ix.mem != nil {
			es = memEntries(ix.mem)
		}
		i := sort.Search(len(es), func(i int) bool { return es[i].key >= lo })
		return func() (indexEntry, bool, error) {
			if i >= len(es) || es[i].key >= hi {
				return indexEntry{}, false, nil
			}
			i++
			return es[i-1], true, nil
		}, nil
	}
	base := int64(headerSize) + int64(ix.count)*8
	var rerr error
	read := func(i int) uint64 {
		var b [8]byte
		if _, err := ix.file.ReadAt(b[:], base+int64(i)*entrySize); err != nil && rerr == nil {
			rerr = err
		}
		return binary.LittleEndian.Uint64(b[:])
	}
	start := sort.Search(int(ix.nEntries), func(i int) bool { return read(i) >= lo })
	if rerr != nil {
		return nil, rerr
	}
	sr := io.NewSectionReader(ix.file, base+int64(start)*entrySize, int64(int(ix.nEntries)-start)*entrySize)
	br := bufio.NewReaderSize(sr, 64<<10)
	return func() (indexEntry, bool, error) {
		var b [entrySize]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return indexEntry{}, false, nil
			}
			return indexEntry{}, false, err
		}
		e := indexEntry{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
		if e.key >= hi {
			return indexEntry{}, false, nil
		}
		return e, true, nil
	}, nil
}

func memEntries(mem map[uint64][]uint64) []indexEntry {
	var es []indexEntry
	for k, seqs := range mem {
		for _, s := range seqs {
			es = append(es, indexEntry{k, s})
		}
	}
	slices.SortFunc(es, func(a, b indexEntry) int {
		if a.key != b.key {
			if a.key < b.key {
				return -1
			}
			return 1
		}
		if a.seq < b.seq {
			return -1
		}
		if a.seq > b.seq {
			return 1
		}
		return 0
	})
	return es
}

// readRecord reads the record seq of the segment and checks it is the one the index names.
func (ix *segIndex) readRecord(f *os.File, seq uint64) (Record, error) {
	off, err := ix.offset(seq)
	if err != nil {
		return Record{}, err
	}
	line, err := readLineAt(f, off)
	if err != nil {
		return Record{}, err
	}
	r, err := Decode(line)
	if err != nil {
		return Record{}, &ScanError{Where: fmt.Sprintf("%s at byte %d", baseName(ix.path), off), Err: err}
	}
	if r.Seq != seq {
		return Record{}, errStaleIndex
	}
	return r, nil
}

var errStaleIndex = errors.New("audit index does not describe its segment")

// readLineAt reads the line that starts at off, without its newline.
func readLineAt(f *os.File, off int64) ([]byte, error) {
	buf := make([]byte, 0, 1024)
	chunk := make([]byte, 1024)
	for {
		n, err := f.ReadAt(chunk, off+int64(len(buf)))
		if i := bytes.IndexByte(chunk[:n], '\n'); i >= 0 {
			return append(buf, chunk[:i]...), nil
		}
		buf = append(buf, chunk[:n]...)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errStaleIndex // no complete line there
			}
			return nil, err
		}
		if len(chunk) < 64<<10 {
			chunk = make([]byte, 2*len(chunk))
		}
	}
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func indexPath(seg string) string { return strings.TrimSuffix(seg, segmentSuffix) + indexSuffix }

// buildIndex reads a whole segment and indexes it in memory.
func buildIndex(ctx context.Context, seg string) (*segIndex, error) {
	ix := &segIndex{path: seg}
	f, err := os.Open(seg)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	var off int64
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break // nothing more, or a record still being written
		}
		if err != nil {
			return nil, err
		}
		if line%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		r, derr := Decode(b[:len(b)-1])
		if derr != nil {
			return nil, &ScanError{Where: fmt.Sprintf("%s line %d", baseName(seg), line), Err: derr}
		}
		if ix.count > 0 && r.Seq != ix.lastSeq()+1 && ix.irregular == nil {
			ix.irregular = map[uint64]int64{}
			for i, o := range ix.offsets {
				ix.irregular[ix.firstSeq+uint64(i)] = o
			}
		}
		if ix.irregular != nil {
			ix.irregular[r.Seq] = off
		}
		ix.add(r, off, int64(len(b)))
		off += int64(len(b))
	}
	if ix.irregular != nil {
		ix.ordered = slices.Sorted(maps.Keys(ix.irregular))
		ix.firstSeq = ix.ordered[0]
	}
	return ix, nil
}

// seal turns an in-memory index into its sorted form and writes it beside the segment.
func (ix *segIndex) write() error {
	if ix.irregular != nil {
		return errors.New("the segment's records are not in Seq order")
	}
	es := memEntries(ix.mem)
	ix.entries, ix.mem = es, nil
	buf := make([]byte, 0, headerSize+len(ix.offsets)*8+len(es)*entrySize+4)
	buf = append(buf, indexMagic...)
	for _, v := range []uint64{uint64(ix.size), ix.count, ix.firstSeq, uint64(ix.minTime), uint64(ix.maxTime), uint64(len(es)), 0} {
		buf = binary.LittleEndian.AppendUint64(buf, v)
	}
	for _, o := range ix.offsets {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(o))
	}
	for _, e := range es {
		buf = binary.LittleEndian.AppendUint64(buf, e.key)
		buf = binary.LittleEndian.AppendUint64(buf, e.seq)
	}
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
	return durable.WriteFile(indexPath(ix.path), buf)
}

// openIndex opens the index file of a sealed segment and checks that it describes the segment.
func openIndex(seg string) (*segIndex, error) {
	st, err := os.Stat(seg)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(indexPath(seg))
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < headerSize+4 {
		return nil, errors.New("index too short")
	}
	h := make([]byte, headerSize)
	if _, err := f.ReadAt(h, 0); err != nil {
		return nil, err
	}
	if string(h[:8]) != indexMagic {
		return nil, errors.New("not an audit index")
	}
	u := func(i int) uint64 { return binary.LittleEndian.Uint64(h[8+8*i:]) }
	ix := &segIndex{path: seg, size: int64(u(0)), count: u(1), firstSeq: u(2), minTime: int64(u(3)), maxTime: int64(u(4)), nEntries: u(5), file: f}
	if want := int64(headerSize) + int64(ix.count)*8 + int64(ix.nEntries)*entrySize + 4; want != fi.Size() {
		return nil, errors.New("index size does not match its header")
	}
	if ix.size != st.Size() {
		return nil, fmt.Errorf("index covers %d bytes, the segment has %d", ix.size, st.Size())
	}
	// The checksum, read in blocks (an index is a few MB per segment).
	sum := crc32.New(castagnoli)
	if _, err := io.Copy(sum, io.NewSectionReader(f, 0, fi.Size()-4)); err != nil {
		return nil, err
	}
	var tr [4]byte
	if _, err := f.ReadAt(tr[:], fi.Size()-4); err != nil {
		return nil, err
	}
	if binary.LittleEndian.Uint32(tr[:]) != sum.Sum32() {
		return nil, errors.New("index checksum mismatch")
	}
	ok = true
	return ix, nil
}

func (ix *segIndex) close() {
	if ix.file != nil {
		_ = ix.file.Close()
	}
}

func (ix *segIndex) overlaps(q Query) bool {
	if ix.damaged != nil {
		return true
	}
	if ix.count == 0 {
		return false
	}
	if q.Oldest {
		if ix.lastSeq() <= q.After {
			return false
		}
	} else if q.Before != 0 && ix.firstSeq >= q.Before {
		return false
	}
	if !q.From.IsZero() && ix.maxTime < q.From.UnixNano() {
		return false
	}
	if !q.Until.IsZero() && ix.minTime >= q.Until.UnixNano() {
		return false
	}
	return true
}

// countMerge counts the entries of one kind across segments, in key order, with memory for one
// entry per segment.
type countMerge []*countCursor

type countCursor struct {
	next func() (indexEntry, bool, error)
	cur  indexEntry
	ix   *segIndex
}

func (m countMerge) Len() int           { return len(m) }
func (m countMerge) Less(i, j int) bool { return m[i].cur.key < m[j].cur.key }
func (m countMerge) Swap(i, j int)      { m[i], m[j] = m[j], m[i] }
func (m *countMerge) Push(x any)        { *m = append(*m, x.(*countCursor)) }
func (m *countMerge) Pop() any {
	old := *m
	x := old[len(old)-1]
	*m = old[:len(old)-1]
	return x
}

var _ heap.Interface = (*countMerge)(nil)
