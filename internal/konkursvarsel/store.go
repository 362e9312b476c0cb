package konkursvarsel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/durable"
)

// Store keeps every notice, once, and the poller's cursor.
type Store interface {
	// Apply stores the notices that are not stored yet (idempotent by uuid) and returns how many
	// were new. A notice that comes back with more associated units is enriched. A uuid that
	// comes back with other content is an ErrNoticeConflict; the batch is then not applied.
	Apply(ctx context.Context, notices []Notice) (int, error)
	// NoticesFor returns the notices whose debitor is party, or that list party as an associated
	// unit of a personal bankruptcy.
	NoticesFor(ctx context.Context, party string) ([]Notice, error)
	// Cursor is the latest registreringstidspunkt fully applied; zero before the first sync.
	Cursor(ctx context.Context) (time.Time, error)
	// SetCursor moves the cursor; the notices up to it must already be stored.
	SetCursor(ctx context.Context, t time.Time) error
}

// MemoryStore is a Store in memory (tests, and the index of FileStore).
type MemoryStore struct {
	mu      sync.RWMutex
	byUUID  map[string]Notice
	byParty map[string][]string // party → uuids
	cursor  time.Time
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{byUUID: map[string]Notice{}, byParty: map[string][]string{}}
}

// plan merges a batch into the store by the one rule (Plan); the caller holds the lock.
func (s *MemoryStore) plan(notices []Notice) (changed []Notice, added int, err error) {
	changes, added, err := Plan(notices, func(uuid string) (Notice, bool, error) {
		n, ok := s.byUUID[uuid]
		return n, ok, nil
	})
	for _, c := range changes {
		changed = append(changed, c.Notice)
	}
	return changed, added, err
}

func (s *MemoryStore) put(n Notice) {
	s.byUUID[n.UUID] = n
	for _, p := range append([]string{n.Debitor}, n.AssociatedOrgNos...) {
		if !slices.Contains(s.byParty[p], n.UUID) {
			s.byParty[p] = append(s.byParty[p], n.UUID)
		}
	}
}

// Apply implements Store. The batch is checked first and applied whole or not at all.
func (s *MemoryStore) Apply(_ context.Context, notices []Notice) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed, added, err := s.plan(notices)
	if err != nil {
		return 0, err
	}
	for _, n := range changed {
		s.put(n)
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

// All returns every notice (for reports and tests).
func (s *MemoryStore) All() []Notice {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Notice, 0, len(s.byUUID))
	for _, n := range s.byUUID {
		out = append(out, n)
	}
	return out
}

// Cursor implements Store.
func (s *MemoryStore) Cursor(context.Context) (time.Time, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cursor, nil
}

// SetCursor implements Store.
func (s *MemoryStore) SetCursor(_ context.Context, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursor = t.UTC()
	return nil
}

// FileStore is the Store of the embedded default: notices.jsonl (one fsynced line per new or
// enriched notice; a later line for a uuid replaces the earlier) and cursor.json (replaced
// atomically), in a directory that one process owns.
type FileStore struct {
	*MemoryStore
	// Repaired is the torn last record cut at open, if a crash left one; the caller logs it.
	Repaired *durable.Torn

	dir  string
	lock *os.File
	mu   sync.Mutex
	log  *os.File
}

// OpenFileStore loads the store in dir, creating it if needed.
func OpenFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("notice store %s is in use by another process: %w", dir, err)
	}
	s := &FileStore{MemoryStore: NewMemoryStore(), dir: dir, lock: lock}
	if err := s.load(); err != nil {
		lock.Close()
		return nil, err
	}
	s.log, err = os.OpenFile(filepath.Join(dir, "notices.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

// resync is how an operator repairs a damaged notice store: Konkursvarsel has every notice.
const resync = "stop the server, move the konkursvarsel directory aside, and start again with DSOP_KONKURSVARSEL_SINCE=all (or the date of the oldest notice still needed): the notices are fetched again from Konkursvarsel"

func (s *FileStore) load() error {
	path := filepath.Join(s.dir, "notices.jsonl")
	torn, err := durable.ReadLines(path, true, func(line []byte) error {
		var n Notice
		if err := json.Unmarshal(line, &n); err != nil {
			return err
		}
		if err := n.Validate(); err != nil {
			return err
		}
		s.put(n)
		return nil
	})
	if err != nil {
		return fmt.Errorf("notice store: %w; to repair, %s", err, resync)
	}
	s.Repaired = torn
	b, err := os.ReadFile(filepath.Join(s.dir, "cursor.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var c struct {
		Registreringstidspunkt time.Time `json:"registreringstidspunkt"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("%s is unreadable: %w; to repair, remove it and start with DSOP_KONKURSVARSEL_SINCE set to a time before the last notice you trust (a repeated notice is applied once)",
			filepath.Join(s.dir, "cursor.json"), err)
	}
	s.cursor = c.Registreringstidspunkt.UTC()
	return nil
}

// Apply implements Store: the new lines are written and fsynced before the index changes.
func (s *FileStore) Apply(_ context.Context, notices []Notice) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.MemoryStore.mu.Lock()
	defer s.MemoryStore.mu.Unlock()
	changed, added, err := s.plan(notices)
	if err != nil || len(changed) == 0 {
		return 0, err
	}
	var buf []byte
	for _, n := range changed {
		b, err := json.Marshal(n)
		if err != nil {
			return 0, err
		}
		buf = append(append(buf, b...), '\n')
	}
	if _, err := s.log.Write(buf); err != nil {
		return 0, fmt.Errorf("store notices: %w", err)
	}
	if err := s.log.Sync(); err != nil {
		return 0, fmt.Errorf("store notices: %w", err)
	}
	for _, n := range changed {
		s.put(n)
	}
	return added, nil
}

// SetCursor implements Store.
func (s *FileStore) SetCursor(ctx context.Context, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(map[string]time.Time{"registreringstidspunkt": t.UTC()})
	if err := durable.WriteFile(filepath.Join(s.dir, "cursor.json"), b); err != nil {
		return fmt.Errorf("store cursor: %w", err)
	}
	return s.MemoryStore.SetCursor(ctx, t)
}

// Close releases the store.
func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.log.Close()
	_ = s.lock.Close()
	return err
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
