package audit

import (
	"context"
	"sync"
	"time"
)

// MemoryStore keeps the chain in memory, as stored bytes like the other stores: for tests and for
// tools that build a chain to check.
type MemoryStore struct {
	mu      sync.Mutex
	records []Record // each with Raw, the stored bytes
	cp      *Checkpoint
	// Fail, when set, makes Append fail (tests of the fail-closed path).
	Fail error
}

// Append implements Store.
func (m *MemoryStore) Append(_ context.Context, r *Record) error {
	r.HashBody() // before the lock: appends hash their bodies in parallel
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return m.Fail
	}
	var lastSeq uint64
	var lastHash string
	if n := len(m.records); n > 0 {
		lastSeq, lastHash = m.records[n-1].Seq, m.records[n-1].Hash
	}
	if err := Link(r, lastSeq, lastHash, m.cp); err != nil {
		return err
	}
	stored, err := Decode(r.Raw) // what a read gives back: the stored bytes, decoded
	if err != nil {
		return err
	}
	m.records = append(m.records, stored)
	return nil
}

// Scan implements Store.
func (m *MemoryStore) Scan(ctx context.Context, fn func(Record) error) error {
	m.mu.Lock()
	recs := append([]Record(nil), m.records...)
	m.mu.Unlock()
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Query implements Querier by filtering every record: the memory store is for tests and small
// tools, and is the reference the indexed stores are tested against.
func (m *MemoryStore) Query(ctx context.Context, q Query) (Page, error) {
	m.mu.Lock()
	recs := append([]Record(nil), m.records...)
	m.mu.Unlock()
	return queryOrdered(ctx, q, len(recs), func(i int) (Record, error) { return recs[i], nil })
}

// Count implements Querier.
func (m *MemoryStore) Count(ctx context.Context, q CountQuery, fn func(key string, n int) error) error {
	m.mu.Lock()
	recs := append([]Record(nil), m.records...)
	m.mu.Unlock()
	return countSorted(ctx, q, func(yield func(Record) error) error {
		for _, r := range recs {
			if err := yield(r); err != nil {
				return err
			}
		}
		return nil
	}, fn)
}

// Records returns a copy of the chain (tests edit it to prove Verify).
func (m *MemoryStore) Records() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Record(nil), m.records...)
}

// SetRecords replaces the chain (tests), as someone who can write the storage could: each record
// is stored with the hash it carries, re-encoded only if its fields were changed.
func (m *MemoryStore) SetRecords(rs []Record) {
	out := make([]Record, len(rs))
	for i, r := range rs {
		if r.V >= 2 {
			// The fields as they now are, with the hash the record carries: an edit shows.
			raw, _, err := CanonicalV2(&r)
			if err == nil {
				r.Raw = append(raw[:len(raw)-hashSuffixLen], `"hash":"`+r.Hash+`"}`...)
			}
		}
		out[i] = r
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records = out
}

// Checkpoint implements Store.
func (m *MemoryStore) Checkpoint(context.Context) (*Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cp, nil
}

// Expire implements Store; every record is its own segment here.
func (m *MemoryStore) Expire(_ context.Context, before time.Time, s *Signer) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for n < len(m.records)-1 && m.records[n].Time.Before(before) {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	removed := uint64(n)
	if m.cp != nil {
		removed += m.cp.Removed
	}
	cp := &Checkpoint{Seq: m.records[n].Seq, PrevHash: m.records[n].PrevHash, Time: time.Now().UTC(), Removed: removed}
	s.Sign(cp)
	m.cp, m.records = cp, append([]Record(nil), m.records[n:]...)
	return n, nil
}

// Close implements Store.
func (m *MemoryStore) Close() error { return nil }
