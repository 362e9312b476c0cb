package audit

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

var _ Querier = (*FileStore)(nil)

// segView is what one query reads of a segment: its index, and for the active segment a snapshot
// of what had been written when the query began.
type segView struct {
	ix    *segIndex
	count uint64 // records visible to this query
	seqs  map[uint64][]uint64
}

// views snapshots the segments' indexes, oldest first.
func (s *FileStore) views(key uint64, keyed bool) []segView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]segView, 0, len(s.sealed)+1)
	for _, ix := range s.sealed {
		out = append(out, segView{ix: ix, count: ix.count})
	}
	if a := s.active; a != nil && a.count > 0 {
		v := segView{ix: &segIndex{path: a.path, firstSeq: a.firstSeq, count: a.count, size: a.size, minTime: a.minTime, maxTime: a.maxTime,
			offsets: a.offsets[:a.count:a.count], irregular: a.irregular, ordered: a.ordered}, count: a.count}
		if keyed {
			v.seqs = map[uint64][]uint64{key: slices.Clone(a.mem[key])}
		}
		out = append(out, v)
	}
	return out
}

// Query implements Querier from the segment indexes.
func (s *FileStore) Query(ctx context.Context, q Query) (Page, error) {
	p, err := s.query(ctx, q)
	var stale *staleIndexError
	if errors.As(err, &stale) {
		// A segment changed under its index (restored from backup, or edited): index it again
		// and answer from the new index.
		if rerr := s.reindex(ctx, stale.seg); rerr != nil {
			return Page{}, rerr
		}
		p, err = s.query(ctx, q)
	}
	return p, err
}

func (s *FileStore) query(ctx context.Context, q Query) (Page, error) {
	q = q.normalized()
	key, keyed := queryKey(q)
	views := s.views(key, keyed)
	if !q.Oldest {
		slices.Reverse(views)
	}
	var p Page
	scanned := 0
	for _, v := range views {
		if !v.ix.overlaps(q) {
			continue
		}
		if v.ix.damaged != nil {
			return Page{}, v.ix.damaged
		}
		var seqs []uint64
		if keyed {
			var err error
			if v.seqs != nil {
				seqs = v.seqs[key]
			} else if seqs, err = v.ix.seqs(key); err != nil {
				return Page{}, fmt.Errorf("audit index %s: %w", filepath.Base(v.ix.path), err)
			}
		}
		f, err := os.Open(v.ix.path)
		if err != nil {
			return Page{}, err
		}
		done, err := func() (bool, error) {
			defer f.Close()
			n := int(v.count)
			if keyed {
				n = len(seqs)
			}
			at := func(i int) uint64 {
				if keyed {
					return seqs[i]
				}
				return v.ix.seqAt(i)
			}
			step, i := -1, n-1
			if q.Oldest {
				step, i = 1, 0
			}
			for ; i >= 0 && i < n; i += step {
				seq := at(i)
				if (v.ix.ordered == nil && seq > v.ix.firstSeq+v.count-1) || !q.inKeyset(seq) {
					continue
				}
				if len(p.Records) == q.Limit || scanned == q.MaxScan {
					p.Next = p.cursor(q, seq)
					return true, nil
				}
				if scanned%1024 == 0 {
					if err := ctx.Err(); err != nil {
						return true, err
					}
				}
				scanned++
				r, err := v.ix.readRecord(f, seq)
				if errors.Is(err, errStaleIndex) {
					return true, &staleIndexError{seg: v.ix.path}
				}
				if err != nil {
					return true, err
				}
				if q.Match(r) {
					p.Records = append(p.Records, r)
				}
			}
			return false, nil
		}()
		if err != nil {
			return Page{}, err
		}
		if done {
			return p, nil
		}
	}
	return p, nil
}

// Count implements Querier: a merge of the segments' sorted index entries of one kind, so that
// its memory is one entry per segment whatever the log's size.
func (s *FileStore) Count(ctx context.Context, q CountQuery, fn func(key string, n int) error) error {
	by, over := q.By, q.Over
	kind, err := countIndex(by)
	if err != nil {
		return err
	}
	s.mu.Lock()
	ixs := slices.Clone(s.sealed)
	var active *segIndex
	if a := s.active; a != nil && a.count > 0 {
		// The active segment's entries, sorted now (at most one segment's worth).
		active = &segIndex{path: a.path, firstSeq: a.firstSeq, count: a.count, offsets: a.offsets[:a.count:a.count], entries: memEntries(a.mem),
			minTime: a.minTime, maxTime: a.maxTime, irregular: a.irregular, ordered: a.ordered}
	}
	s.mu.Unlock()
	if active != nil {
		ixs = append(ixs, active)
	}
	var m countMerge
	for _, ix := range ixs {
		if ix.damaged != nil {
			return ix.damaged
		}
		if !q.Since.IsZero() && ix.count > 0 && ix.maxTime < q.Since.UnixNano() {
			continue // wholly before Since
		}
		if !q.Since.IsZero() && (ix.count == 0 || ix.minTime < q.Since.UnixNano() || ix == active) {
			// A segment that straddles Since (or the active one, whose times are not kept):
			// its entries from Since on, read from the segment itself (one segment at most).
			if ix, err = sinceIndex(ctx, ix, kind, q.Since); err != nil {
				return err
			}
		}
		next, err := ix.kindEntries(kind)
		if err != nil {
			return err
		}
		c := &countCursor{next: next, ix: ix}
		e, ok, err := next()
		if err != nil {
			return err
		}
		if ok {
			c.cur = e
			m = append(m, c)
		}
	}
	heap.Init(&m)
	for m.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		key, n := m[0].cur.key, 0
		var sample *countCursor
		sampleSeq := uint64(0)
		for m.Len() > 0 && m[0].cur.key == key {
			c := m[0]
			n++
			if sample == nil {
				sample, sampleSeq = c, c.cur.seq
			}
			e, ok, err := c.next()
			if err != nil {
				return err
			}
			if ok {
				c.cur = e
				heap.Fix(&m, 0)
			} else {
				heap.Pop(&m)
			}
		}
		if n <= over {
			continue
		}
		// The group's name, from one of its records (which also rules out a hash collision).
		f, err := os.Open(sample.ix.path)
		if err != nil {
			return err
		}
		r, err := sample.ix.readRecord(f, sampleSeq)
		f.Close()
		if err != nil {
			return err
		}
		name := countKey(by, r)
		if ixKey(kind, name) != key {
			continue
		}
		if err := fn(name, n); err != nil {
			return err
		}
	}
	return nil
}

type staleIndexError struct{ seg string }

func (e *staleIndexError) Error() string {
	return fmt.Sprintf("audit index of %s does not describe its segment", filepath.Base(e.seg))
}

func (e *staleIndexError) Unwrap() error { return errStaleIndex }

// reindex rebuilds the index of one segment that no longer matches it.
func (s *FileStore) reindex(ctx context.Context, seg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active != nil && s.active.path == seg {
		ix, err := buildIndex(ctx, seg)
		if err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
		s.logger.Warn("audit index rebuilt from its segment", "segment", filepath.Base(seg), "why", "a record was not where the index said")
		s.active = ix
		return nil
	}
	for i, ix := range s.sealed {
		if ix.path != seg {
			continue
		}
		_ = os.Remove(indexPath(ix.path))
		ix.close()
		nix, err := s.sealedIndex(ctx, ix.path)
		if err != nil {
			return err
		}
		s.sealed[i] = nix
	}
	return nil
}

// sinceIndex indexes, for one kind, the records of a segment from since on.
func sinceIndex(ctx context.Context, ix *segIndex, kind indexKind, since time.Time) (*segIndex, error) {
	out := &segIndex{path: ix.path, firstSeq: ix.firstSeq, count: ix.count, offsets: ix.offsets, irregular: ix.irregular, ordered: ix.ordered, file: nil}
	if ix.file != nil {
		// Reads go through the disk index's offsets.
		out.file, out.nEntries, out.offsets = nil, 0, nil
		out.irregular = map[uint64]int64{}
		for i := range int(ix.count) {
			seq := ix.seqAt(i)
			off, err := ix.offset(seq)
			if err != nil {
				return nil, err
			}
			out.irregular[seq] = off
		}
	}
	err := scanSegment(ctx, ix.path, func(r Record) error {
		if r.Time.Before(since) {
			return nil
		}
		for _, k := range indexKeys(r) {
			if indexKind(k>>56) == kind {
				out.entries = append(out.entries, indexEntry{k, r.Seq})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out.entries, func(a, b indexEntry) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return out, nil
}
