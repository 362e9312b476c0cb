package audit

import (
	"fmt"
	"sync"
	"syscall"
	"time"
)

// Volume watches the free space of the file store's volume (docs/compliance.md "Audit log", disk): below
// MinFree the server refuses new requests with 503 and /readyz fails, before a record could be
// half written. The answer is cached for a second: a statfs per request would cost more than the
// check is worth.
type Volume struct {
	Dir     string
	MinFree uint64
	Now     func() time.Time

	mu      sync.Mutex
	checked time.Time
	free    uint64
	err     error
}

// Free is the space left for an unprivileged writer on the volume, as of at most a second ago.
func (v *Volume) Free() (uint64, error) {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if now.Sub(v.checked) < time.Second && !v.checked.IsZero() {
		return v.free, v.err
	}
	var st syscall.Statfs_t
	v.err = syscall.Statfs(v.Dir, &st)
	v.free, v.checked = st.Bavail*uint64(st.Bsize), now
	if v.err != nil {
		v.err = fmt.Errorf("audit volume %s: %w", v.Dir, v.err)
	}
	return v.free, v.err
}

// Room reports an error while the volume has less than MinFree left.
func (v *Volume) Room() error {
	free, err := v.Free()
	if err != nil {
		return err
	}
	if free < v.MinFree {
		return fmt.Errorf("audit volume %s has %d MiB free, below DSOP_AUDIT_MIN_FREE (%d MiB): new requests are refused until space is freed or the volume grows",
			v.Dir, free>>20, v.MinFree>>20)
	}
	return nil
}
