package postgres

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// tryLead takes the lock on conn if it is free. The session is then ended by PostgreSQL itself
// when it stays idle for three checks (idle_session_timeout): the leader pings it every check, so
// only a leader that stopped — a frozen process, whose connection stays open — loses it, and
// another replica takes over (issue #29: a frozen leader held the lock for the whole freeze).
// The setting is left out where the server has none (before PostgreSQL 14).
func tryLead(ctx context.Context, conn *pgx.Conn, key int64, check time.Duration) (bool, error) {
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil || !got {
		return false, err
	}
	timeout := max(3*check, time.Second)
	if _, err := conn.Exec(ctx, "SELECT set_config('idle_session_timeout', $1, false)", strconv.FormatInt(timeout.Milliseconds(), 10)); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42704" { // undefined_object: no such setting
			_, _ = conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key)
			return false, err
		}
	}
	return true, nil
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
		got, err := tryLead(ctx, conn.Conn(), l.Key, l.Check)
		if err != nil || !got {
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
		} else if _, err := conn.Exec(uctx, "RESET idle_session_timeout"); err != nil {
			_ = conn.Conn().Close(uctx) // the pool must not keep a session PostgreSQL would end
		}
		ucancel()
		conn.Release()
	}
}
