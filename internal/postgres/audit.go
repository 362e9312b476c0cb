package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dsop-bank/dsop-bank/internal/audit"
)

// AuditStore is the audit chain in PostgreSQL. Appends from every replica are serialised by a
// transaction-scoped advisory lock, so the chain has one order; the record is committed before
// Append returns.
//
// Within one replica, appends are group-committed (issue #15): while one transaction writes, the
// records that arrive queue up, and the next transaction — written by a writer goroutine, so that
// a caller that gives up does not fail the group it shares with others — links and commits them
// all together: one lock, one head query, one pipelined batch of inserts and one commit for the
// group. Each caller still returns only after the transaction holding its own record has
// committed. A caller that finds nobody writing writes its own record itself.
type AuditStore struct {
	Pool *pgxpool.Pool

	mu      sync.Mutex
	queue   []*pendingAppend
	writing bool
	writer  sync.WaitGroup
	// unsure are linked records whose callers heard of a failure although the record may be
	// stored: a commit whose outcome was lost, or a caller that gave up while its group
	// committed. The next group looks them up under the chain's lock and writes, for each one
	// stored, the record saying its answer never left (audit.WithholdingOf).
	unsure []audit.Record
	// beforeCommit, in tests, runs just before a group's inserts and commit are sent.
	beforeCommit func()
}

var _ audit.Store = (*AuditStore)(nil)

// maxGroup bounds one group's transaction; a larger queue is written in several.
const maxGroup = 256

type pendingAppend struct {
	rec      audit.Record
	deadline time.Time // the caller's, zero when it has none
	done     chan error
	// state settles who speaks last: the caller giving up (pending → abandoned) or the writer
	// committing (pending → committed). A record abandoned before it is linked is stored as
	// what its caller got (audit.AsWriteFailure); one abandoned after is unsure.
	state     atomic.Int32
	rewritten bool // the writer's: stored as a write failure
}

const (
	pending int32 = iota
	abandoned
	committed
)

// Append implements audit.Store.
func (s *AuditStore) Append(ctx context.Context, r *audit.Record) error {
	p := &pendingAppend{rec: *r, done: make(chan error, 1)}
	p.deadline, _ = ctx.Deadline()
	s.mu.Lock()
	if !s.writing {
		// Nobody is writing: this caller writes its own record, a group of one, without handing
		// it to a writer goroutine — on a quiet server the hand-off costs more than the write.
		// Records that arrive meanwhile queue up for a writer started after it.
		s.writing = true
		s.writer.Add(1)
		s.mu.Unlock()
		err := s.writeGroup(context.WithoutCancel(ctx), []*pendingAppend{p})
		s.mu.Lock()
		if len(s.queue) > 0 {
			s.writer.Add(1)
			go s.writeGroups(context.WithoutCancel(ctx))
		} else {
			s.writing = false
		}
		s.mu.Unlock()
		s.writer.Done()
		if err == nil {
			*r = p.rec
		}
		return err
	}
	s.queue = append(s.queue, p)
	s.mu.Unlock()
	select {
	case err := <-p.done:
		if err == nil {
			*r = p.rec
		}
		return err
	case <-ctx.Done():
		if !p.state.CompareAndSwap(pending, abandoned) {
			// Its group committed just now: the record is durable, the answer may leave.
			if err := <-p.done; err == nil {
				*r = p.rec
				return nil
			}
		}
		// The group may still commit this record; then it is unsure, and a later record says
		// that its answer never left.
		return fmt.Errorf("audit append: %w", ctx.Err())
	}
}

// writeGroups commits queued records, a group per transaction, until none is left.
func (s *AuditStore) writeGroups(ctx context.Context) {
	defer s.writer.Done()
	for {
		s.mu.Lock()
		n := min(len(s.queue), maxGroup)
		if n == 0 {
			s.writing = false
			s.mu.Unlock()
			return
		}
		group := s.queue[:n:n]
		s.queue = append([]*pendingAppend(nil), s.queue[n:]...)
		s.mu.Unlock()

		err := s.writeGroup(ctx, group)
		for _, p := range group {
			p.done <- err
		}
	}
}

// writeGroup links and commits one group. Its deadline is the latest of its callers' (a caller
// that gave up no longer waits; the others must not fail because of it).
func (s *AuditStore) writeGroup(ctx context.Context, group []*pendingAppend) (err error) {
	var latest time.Time
	for _, p := range group {
		if p.deadline.IsZero() {
			latest = time.Time{}
			break
		}
		if p.deadline.After(latest) {
			latest = p.deadline
		}
	}
	if !latest.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, latest)
		defer cancel()
	}
	linked := make([]audit.Record, 0, len(group))
	sent := false
	defer func() {
		if sent && err != nil {
			// The commit may have happened: every record of the group is unsure.
			s.mu.Lock()
			s.unsure = append(s.unsure, linked...)
			s.mu.Unlock()
		}
	}()
	s.mu.Lock()
	unsure := s.unsure[:len(s.unsure):len(s.unsure)]
	s.mu.Unlock()
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	// On any error the connection is released inside its transaction, and the pool closes it:
	// the server rolls the transaction back, and nothing half-written stays.
	defer conn.Release()
	// Two round trips (issue #15): the lock and the head, then the records and the commit. Each
	// statement of a pipeline runs after the one before and takes its own snapshot (READ
	// COMMITTED), so the head is read under the lock, as the chain needs.
	head := &pgx.Batch{}
	head.Queue("BEGIN")
	head.Queue("SELECT pg_advisory_xact_lock($1)", lockAudit)
	head.Queue("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1")
	var last int64
	var lastHash string
	var cp *audit.Checkpoint
	res := conn.SendBatch(ctx, head)
	// While the lock and the head are on their way, the bodies are hashed.
	for _, p := range group {
		p.rec.HashBody()
	}
	_, err = res.Exec()
	if err == nil {
		if _, err = res.Exec(); err != nil {
			err = fmt.Errorf("audit lock: %w", err)
		}
	}
	empty := false
	if err == nil {
		err = res.QueryRow().Scan(&last, &lastHash)
		if empty = errors.Is(err, pgx.ErrNoRows); empty {
			err = nil
		} else if err != nil {
			err = fmt.Errorf("audit head: %w", err)
		}
	}
	if cerr := res.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("audit head: %w", cerr)
	}
	if err != nil {
		return err
	}
	if empty {
		if cp, err = checkpoint(ctx, conn); err != nil {
			return err
		}
	}
	var markers []audit.Record
	if len(unsure) > 0 {
		if markers, err = withholdings(ctx, conn, unsure); err != nil {
			return err
		}
	}
	batch := &pgx.Batch{}
	queue := func(rec audit.Record) {
		// The record is stored as Link encoded it (audit/encoding.go), byte for byte: text,
		// never jsonb, which would reorder its keys.
		batch.Queue(`INSERT INTO audit_records (seq, recorded_at, account_info_request_id, correlation_id, party_id, consumer, status, record, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			int64(rec.Seq), rec.Time, rec.AccountInfoRequestID, rec.CorrelationID, rec.PartyID, rec.Consumer, rec.Status, string(rec.Raw), rec.Hash)
		last, lastHash, cp = int64(rec.Seq), rec.Hash, nil
	}
	for _, m := range markers {
		if err := audit.Link(&m, uint64(last), lastHash, cp); err != nil {
			return err
		}
		queue(m)
	}
	for _, p := range group {
		rec := p.rec
		if p.state.Load() == abandoned {
			rec, p.rewritten = audit.AsWriteFailure(rec), true
		}
		if err := audit.Link(&rec, uint64(last), lastHash, cp); err != nil {
			return err
		}
		queue(rec)
		linked = append(linked, rec)
	}
	batch.Queue("COMMIT")
	sent = true
	if s.beforeCommit != nil {
		s.beforeCommit()
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("insert audit records: %w", err)
	}
	if conn.Conn().PgConn().TxStatus() != 'I' {
		// A COMMIT of a failed transaction reports success and rolls back.
		return errors.New("insert audit records: the transaction did not commit")
	}
	s.mu.Lock()
	s.unsure = s.unsure[len(unsure):] // those looked up are settled; later ones stay
	for i, p := range group {
		p.rec = linked[i]
		if !p.state.CompareAndSwap(pending, committed) && !p.rewritten {
			// Its caller gave up after the record was linked: stored as delivered, never answered.
			s.unsure = append(s.unsure, linked[i])
		}
	}
	s.mu.Unlock()
	return nil
}

// withholdings looks the unsure records up (under the chain's lock, so that the transaction
// that may have stored them has ended) and returns the record to write for each one stored.
func withholdings(ctx context.Context, conn *pgxpool.Conn, unsure []audit.Record) ([]audit.Record, error) {
	seqs, hashes := make([]int64, len(unsure)), make([]string, len(unsure))
	for i, u := range unsure {
		seqs[i], hashes[i] = int64(u.Seq), u.Hash
	}
	rows, err := conn.Query(ctx, `SELECT r.seq FROM audit_records r
		JOIN unnest($1::bigint[], $2::text[]) AS u(seq, hash) ON r.seq = u.seq AND r.hash = u.hash`, seqs, hashes)
	if err != nil {
		return nil, fmt.Errorf("audit: look up records of unknown outcome: %w", err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("audit: look up records of unknown outcome: %w", err)
	}
	found := map[int64]bool{}
	for _, seq := range stored {
		found[seq] = true
	}
	now := time.Now()
	var out []audit.Record
	for _, u := range unsure {
		if found[int64(u.Seq)] && u.Reason != audit.ReasonAuditWrite {
			out = append(out, audit.WithholdingOf(u, now))
		}
	}
	return out, nil
}

// Scan implements audit.Store.
func (s *AuditStore) Scan(ctx context.Context, fn func(audit.Record) error) error {
	rows, err := s.Pool.Query(ctx, "SELECT seq, record FROM audit_records ORDER BY seq")
	if err != nil {
		return fmt.Errorf("scan audit records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var raw string
		if err := rows.Scan(&seq, &raw); err != nil {
			return err
		}
		r, err := audit.Decode([]byte(raw))
		if err != nil {
			return &audit.ScanError{Where: fmt.Sprintf("audit_records seq %d", seq), Err: err}
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Checkpoint implements audit.Store.
func (s *AuditStore) Checkpoint(ctx context.Context) (*audit.Checkpoint, error) {
	return checkpoint(ctx, s.Pool)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func checkpoint(ctx context.Context, q querier) (*audit.Checkpoint, error) {
	var raw string
	err := q.QueryRow(ctx, "SELECT checkpoint FROM audit_checkpoint WHERE id = 1").Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	var cp audit.Checkpoint
	if err := json.Unmarshal([]byte(raw), &cp); err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	return &cp, nil
}

// Expire implements audit.Store: records older than before go (the newest always stays), through
// dsop_audit_expire (migration 0003), which verifies the chain it cuts, enforces the retention
// floor, and is the only way a row leaves audit_records: the serving role needs no DELETE right.
func (s *AuditStore) Expire(ctx context.Context, before time.Time, signer *audit.Signer) (int, error) {
	removed := 0
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockAudit); err != nil {
			return err
		}
		var firstKept, count int64
		var raw string
		err := tx.QueryRow(ctx, `SELECT seq, record FROM audit_records
			WHERE recorded_at >= $1 OR seq = (SELECT max(seq) FROM audit_records) ORDER BY seq LIMIT 1`, before).Scan(&firstKept, &raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM audit_records WHERE seq < $1", firstKept).Scan(&count); err != nil {
			return err
		}
		if count == 0 {
			return nil
		}
		var next audit.Record
		if err := json.Unmarshal([]byte(raw), &next); err != nil {
			return err
		}
		prev, err := checkpoint(ctx, tx)
		if err != nil {
			return err
		}
		cp := &audit.Checkpoint{Seq: next.Seq, PrevHash: next.PrevHash, Time: time.Now().UTC(), Removed: uint64(count)}
		if prev != nil {
			cp.Removed += prev.Removed
		}
		signer.Sign(cp)
		b, _ := json.Marshal(cp)
		return tx.QueryRow(ctx, "SELECT dsop_audit_expire($1, $2)", firstKept, string(b)).Scan(&removed)
	})
	return removed, err
}

// Close implements audit.Store: it waits for the group being written (bounded by its callers' deadlines); the pool is the
// caller's to close.
func (s *AuditStore) Close() error {
	s.writer.Wait()
	return nil
}

// Ping reports whether the database answers.
func (s *AuditStore) Ping(ctx context.Context) error { return s.Pool.Ping(ctx) }
