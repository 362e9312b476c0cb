package audit

import (
	"context"
	"sync"
	"time"
)

// MemoryStore keeps the chain in memory: for tests and for tools that build a chain to check.
type MemoryStore struct {
	mu      sync.Mutex
	records []Record
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
	m.records = append(m.records, *r)
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

// Records returns a copy of the chain (tests edit it to prove Verify).
func (m *MemoryStore) Records() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Record(nil), m.records...)
}

// SetRecords replaces the chain (tests).
func (m *MemoryStore) SetRecords(rs []Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records = rs
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
