package postgres

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// LockPoller is the advisory lock that makes one replica the Konkursvarsel poller.
const LockPoller int64 = 0x64736f70_0004

// Leader runs a job on one replica at a time: the one whose database session holds a
// session-level advisory lock. If that replica dies its session ends, the lock is released, and
// another replica takes over within Check.
type Leader struct {
	Pool   *pgxpool.Pool
	Key    int64
	Check  time.Duration // how often a follower tries, and the leader checks its session
	Logger *slog.Logger

	leading atomic.Bool
}

// IsLeader reports whether this replica holds the lock now.
func (l *Leader) IsLeader() bool { return l.leading.Load() }

// Run calls lead while this replica holds the lock, with a context that ends when the lock is lost
// or ctx ends. It returns when ctx ends.
func (l *Leader) Run(ctx context.Context, lead func(ctx context.Context)) {
	log := l.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	wait := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(l.Check):
			return true
		}
	}
	for ctx.Err() == nil {
		conn, err := l.Pool.Acquire(ctx)
		if err != nil {
			if !wait() {
				return
			}
			continue
		}
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", l.Key).Scan(&got); err != nil || !got {
			conn.Release()
			if !wait() {
				return
			}
			continue
		}
		log.Info("this replica now leads", "lock", l.Key)
		l.leading.Store(true)
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); lead(lctx) }()
		for wait() {
			pctx, pcancel := context.WithTimeout(ctx, l.Check)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				log.Warn("lost the database session; no longer leading", "error", err.Error())
				break
			}
		}
		l.leading.Store(false)
		cancel()
		<-done
		// Both under a deadline: a frozen database must not hold the shutdown. If the unlock does
		// not get through, the lock goes with the session when the connection closes.
		uctx, ucancel := context.WithTimeout(context.Background(), l.Check)
		if ctx.Err() == nil {
			// The session is broken: drop it (its lock went with it).
			_ = conn.Conn().Close(uctx)
		} else if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", l.Key); err != nil {
			_ = conn.Conn().Close(uctx)
		}
		ucancel()
		conn.Release()
	}
}
