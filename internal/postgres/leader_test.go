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

// A leader that stops without closing its connection — a frozen process — loses the lock once
// its session has been idle for three checks, and another replica takes over (issue #29: a
// frozen leader kept it for the whole freeze).
func TestLeader_AFrozenLeaderLosesTheLock(t *testing.T) {
	base := testPool(t)
	key := time.Now().UnixNano()
	frozen, err := pgxpool.NewWithConfig(context.Background(), base.Config())
	require.NoError(t, err)
	t.Cleanup(frozen.Close)
	conn, err := frozen.Acquire(context.Background())
	require.NoError(t, err)
	defer conn.Release()
	got, err := tryLead(context.Background(), conn.Conn(), key, 200*time.Millisecond) // then never pings again
	require.NoError(t, err)
	require.True(t, got)

	other, err := pgxpool.NewWithConfig(context.Background(), base.Config())
	require.NoError(t, err)
	t.Cleanup(other.Close)
	b := &Leader{Pool: other, Key: key, Check: 100 * time.Millisecond}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go b.Run(ctx, func(ctx context.Context) { <-ctx.Done() })
	time.Sleep(500 * time.Millisecond)
	require.False(t, b.IsLeader(), "not while the frozen leader's session lives")
	require.Eventually(t, b.IsLeader, 5*time.Second, 50*time.Millisecond, "taken over after the frozen session's idle timeout")
}
