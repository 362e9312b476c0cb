package postgres

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// Two replicas: only one leads; when it stops, the other takes over within the check interval.
func TestLeader_OneAtATimeAndTakeOver(t *testing.T) {
	base := testPool(t)
	key := time.Now().UnixNano() // a lock of this test's own
	open := func() *pgxpool.Pool {
		p, err := pgxpool.NewWithConfig(context.Background(), base.Config())
		require.NoError(t, err)
		t.Cleanup(p.Close)
		return p
	}
	var running atomic.Int32
	var maxRunning atomic.Int32
	job := func(ctx context.Context) {
		n := running.Add(1)
		if n > maxRunning.Load() {
			maxRunning.Store(n)
		}
		<-ctx.Done()
		running.Add(-1)
	}
	ctxA, stopA := context.WithCancel(context.Background())
	a := &Leader{Pool: open(), Key: key, Check: 100 * time.Millisecond}
	b := &Leader{Pool: open(), Key: key, Check: 100 * time.Millisecond}
	doneA := make(chan struct{})
	go func() { a.Run(ctxA, job); close(doneA) }()
	require.Eventually(t, a.IsLeader, 3*time.Second, 20*time.Millisecond)
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	go b.Run(ctxB, job)
	time.Sleep(400 * time.Millisecond)
	require.False(t, b.IsLeader(), "only one replica leads")
	require.EqualValues(t, 1, running.Load())

	stopA() // the leader goes away
	<-doneA
	require.Eventually(t, b.IsLeader, 2*time.Second, 20*time.Millisecond, "the other replica takes over")
	require.EqualValues(t, 1, maxRunning.Load(), "never two at once")
}
