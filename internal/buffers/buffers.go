// Package buffers keeps the memory of large answers that have left, for the answers that follow
// (issue #15): a page of 1 000 transactions and its JWE are about half a megabyte each, and
// allocating each anew makes the garbage collector run more often, on every request of the
// server. The transactions page (filter.Splice) and the encryption (encryption.Encrypter) each
// keep theirs in a Pool.
package buffers

import "sync"

// MaxKept is the largest buffer a Pool keeps: an unusually large one is left to the collector.
const MaxKept = 8 << 20

// Pool lends buffers given back by earlier users. The zero value is ready to use and a nil Pool
// keeps nothing; a Pool must not be copied after first use.
type Pool struct{ pool sync.Pool }

// Get returns an empty buffer with room for at least size bytes that an earlier Put gave back, or
// nil when it has none that large (a smaller one is dropped, so that a pool comes to hold buffers
// of the size its users need).
func (p *Pool) Get(size int) []byte {
	if p == nil {
		return nil
	}
	if v, ok := p.pool.Get().(*[]byte); ok && cap(*v) >= size {
		return (*v)[:0]
	}
	return nil
}

// Put gives buf back for a later Get. The caller must hold no reference to it any more: the next
// user writes over it.
func (p *Pool) Put(buf []byte) {
	if p != nil && cap(buf) <= MaxKept {
		buf = buf[:0]
		p.pool.Put(&buf)
	}
}
