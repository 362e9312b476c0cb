package konkursvarsel

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
)

// Store keeps every notice, once.
type Store interface {
	// Apply stores the notices that are not stored yet (idempotent by uuid) and returns how many
	// were new. A uuid that comes back with different content is an ErrNoticeConflict.
	Apply(ctx context.Context, notices []Notice) (int, error)
	// NoticesFor returns the notices whose debitor is party, or that list party as an associated
	// unit of a personal bankruptcy.
	NoticesFor(ctx context.Context, party string) ([]Notice, error)
}

// MemoryStore is the Store of the embedded default.
type MemoryStore struct {
	mu      sync.RWMutex
	byUUID  map[string]Notice
	byParty map[string][]string // party → uuids
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{byUUID: map[string]Notice{}, byParty: map[string][]string{}}
}

// Apply implements Store. The batch is checked first and applied whole or not at all.
func (s *MemoryStore) Apply(_ context.Context, notices []Notice) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	batch := map[string]Notice{}
	for _, n := range notices {
		if err := n.Validate(); err != nil {
			return 0, err
		}
		old, ok := s.byUUID[n.UUID]
		if !ok {
			old, ok = batch[n.UUID]
		}
		if ok && !sameNotice(old, n) {
			return 0, fmt.Errorf("notice %s: %w", n.UUID, ErrNoticeConflict)
		}
		batch[n.UUID] = n
	}
	added := 0
	for _, n := range notices {
		if _, ok := s.byUUID[n.UUID]; ok {
			continue
		}
		s.byUUID[n.UUID] = n
		for _, p := range append([]string{n.Debitor}, n.AssociatedOrgNos...) {
			if !slices.Contains(s.byParty[p], n.UUID) {
				s.byParty[p] = append(s.byParty[p], n.UUID)
			}
		}
		added++
	}
	return added, nil
}

// NoticesFor implements Store.
func (s *MemoryStore) NoticesFor(_ context.Context, party string) ([]Notice, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Notice, 0, len(s.byParty[party]))
	for _, id := range s.byParty[party] {
		out = append(out, s.byUUID[id])
	}
	return out, nil
}

func sameNotice(a, b Notice) bool {
	return a.Type == b.Type && a.Debitor == b.Debitor && a.Kjennelsesdato == b.Kjennelsesdato &&
		a.Registreringstidspunkt.Equal(b.Registreringstidspunkt) && slices.Equal(a.AssociatedOrgNos, b.AssociatedOrgNos)
}

// SeedFromFile applies the notices of a file in the Konkursvarsel list format. Rejected items are
// returned for the caller to report; they do not stop the others.
func SeedFromFile(ctx context.Context, s Store, path string) (applied int, rejected []error, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, fmt.Errorf("open notices file: %w", err)
	}
	defer f.Close()
	notices, rejected, err := ParseList(f)
	if err != nil {
		return 0, nil, err
	}
	applied, err = s.Apply(ctx, notices)
	return applied, rejected, err
}
