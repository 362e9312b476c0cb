package audit

import "os"

// SetSyncFile replaces the file store's fsync, so that tests can make it fail.
func SetSyncFile(s *FileStore, fn func(*os.File) error) { s.syncFile = fn }

// HealNow lets the next append or ping try to heal at once.
func HealNow(s *FileStore) {
	s.mu.Lock()
	s.healAfter = s.healAfter.AddDate(-1, 0, 0)
	s.mu.Unlock()
}
