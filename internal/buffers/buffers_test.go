package buffers_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/buffers"
)

// A pool lends back only what was given back and is large enough; it keeps nothing above
// MaxKept, and a nil pool keeps nothing at all.
func TestPool_LendsBackOnlyWhatFits(t *testing.T) {
	var none *buffers.Pool
	none.Put(make([]byte, 64))
	require.Nil(t, none.Get(1), "a nil pool keeps nothing")

	var p buffers.Pool
	require.Nil(t, p.Get(1), "an empty pool has nothing to lend")
	p.Put(make([]byte, 10, 64))
	require.Nil(t, p.Get(65), "a buffer smaller than asked for is not lent")
	p.Put(make([]byte, 0, buffers.MaxKept+1))
	require.Nil(t, p.Get(1), "a buffer above MaxKept is not kept")

	// The pool may drop a buffer now and then (a quarter of them under the race detector).
	lent := false
	for i := 0; i < 12 && !lent; i++ {
		b := make([]byte, 5, 128)
		p.Put(b)
		got := p.Get(100)
		if got != nil {
			require.Empty(t, got, "lent empty")
			require.Equal(t, &b[:1][0], &got[:1][0], "the very buffer given back")
			lent = true
		}
	}
	require.True(t, lent, "a buffer given back is lent again")
}
