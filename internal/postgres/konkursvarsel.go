package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
)

// NoticeStore is the Konkursvarsel notice store and cursor in PostgreSQL, shared by replicas.
type NoticeStore struct{ Pool *pgxpool.Pool }

var _ konkursvarsel.Store = (*NoticeStore)(nil)

const lockNotices int64 = 0x64736f70_0003

// Apply implements konkursvarsel.Store: the batch is checked and written in one transaction.
func (s *NoticeStore) Apply(ctx context.Context, notices []konkursvarsel.Notice) (int, error) {
	added := 0
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockNotices); err != nil {
			return err
		}
		changes, n, err := konkursvarsel.Plan(notices, func(uuid string) (konkursvarsel.Notice, bool, error) {
			var old konkursvarsel.Notice
			var doc []byte
			err := tx.QueryRow(ctx, "SELECT doc FROM notices WHERE uuid = $1", uuid).Scan(&doc)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				return old, false, nil
			case err != nil:
				return old, false, err
			}
			return old, true, json.Unmarshal(doc, &old)
		})
		if err != nil {
			return err
		}
		for _, c := range changes {
			if err := s.write(ctx, tx, c.Notice, !c.New); err != nil {
				return err
			}
		}
		added = n
		return nil
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

func (s *NoticeStore) write(ctx context.Context, tx pgx.Tx, n konkursvarsel.Notice, update bool) error {
	doc, err := json.Marshal(n)
	if err != nil {
		return err
	}
	var k any
	if !n.Kjennelsesdato.IsZero() {
		k = n.Kjennelsesdato.In(time.UTC)
	}
	if update {
		_, err = tx.Exec(ctx, "UPDATE notices SET doc = $2 WHERE uuid = $1", n.UUID, string(doc))
	} else {
		_, err = tx.Exec(ctx, `INSERT INTO notices (uuid, type, debitor, kjennelsesdato, registreringstidspunkt, doc) VALUES ($1, $2, $3, $4, $5, $6)`,
			n.UUID, string(n.Type), n.Debitor, k, n.Registreringstidspunkt, string(doc))
	}
	if err != nil {
		return fmt.Errorf("store notice %s: %w", n.UUID, err)
	}
	for _, p := range append([]string{n.Debitor}, n.AssociatedOrgNos...) {
		if _, err := tx.Exec(ctx, "INSERT INTO notice_parties (party, uuid) VALUES ($1, $2) ON CONFLICT DO NOTHING", p, n.UUID); err != nil {
			return err
		}
	}
	return nil
}

// NoticesFor implements konkursvarsel.Store.
func (s *NoticeStore) NoticesFor(ctx context.Context, party string) ([]konkursvarsel.Notice, error) {
	rows, err := s.Pool.Query(ctx, `SELECT n.doc FROM notices n JOIN notice_parties p ON p.uuid = n.uuid WHERE p.party = $1 ORDER BY n.registreringstidspunkt, n.uuid`, party)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []konkursvarsel.Notice
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		n, err := decodeNotice(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func decodeNotice(doc []byte) (konkursvarsel.Notice, error) {
	var n konkursvarsel.Notice
	if err := json.Unmarshal(doc, &n); err != nil {
		return konkursvarsel.Notice{}, fmt.Errorf("stored notice: %w", err)
	}
	return n, nil
}

// Cursor implements konkursvarsel.Store.
func (s *NoticeStore) Cursor(ctx context.Context) (time.Time, error) {
	var t time.Time
	err := s.Pool.QueryRow(ctx, "SELECT registreringstidspunkt FROM konkursvarsel_cursor WHERE id = 1").Scan(&t)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	return t.UTC(), err
}

// SetCursor implements konkursvarsel.Store.
func (s *NoticeStore) SetCursor(ctx context.Context, t time.Time) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO konkursvarsel_cursor (id, registreringstidspunkt) VALUES (1, $1)
		ON CONFLICT (id) DO UPDATE SET registreringstidspunkt = EXCLUDED.registreringstidspunkt`, t.UTC())
	return err
}

// Outbox is the block/reopen outbox in PostgreSQL.
type Outbox struct{ Pool *pgxpool.Pool }

var _ konkursvarsel.Outbox = (*Outbox)(nil)

// Add implements konkursvarsel.Outbox.
func (o *Outbox) Add(ctx context.Context, actions []konkursvarsel.Action) (int, error) {
	added := 0
	err := pgx.BeginFunc(ctx, o.Pool, func(tx pgx.Tx) error {
		for _, a := range actions {
			a.AckedAt, a.AckedBy = nil, ""
			doc, err := json.Marshal(a)
			if err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, "INSERT INTO outbox_actions (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", a.ID, string(doc))
			if err != nil {
				return err
			}
			added += int(tag.RowsAffected())
		}
		return nil
	})
	return added, err
}

// List implements konkursvarsel.Outbox.
func (o *Outbox) List(ctx context.Context) ([]konkursvarsel.Action, error) {
	rows, err := o.Pool.Query(ctx, "SELECT doc, acked_at, acked_by FROM outbox_actions ORDER BY seq")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []konkursvarsel.Action
	for rows.Next() {
		var doc []byte
		var at *time.Time
		var by *string
		if err := rows.Scan(&doc, &at, &by); err != nil {
			return nil, err
		}
		var a konkursvarsel.Action
		if err := json.Unmarshal(doc, &a); err != nil {
			return nil, err
		}
		if at != nil {
			t := at.UTC()
			a.AckedAt = &t
		}
		if by != nil {
			a.AckedBy = *by
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Ack implements konkursvarsel.Outbox.
func (o *Outbox) Ack(ctx context.Context, id, by string) error {
	tag, err := o.Pool.Exec(ctx, "UPDATE outbox_actions SET acked_at = now(), acked_by = $2 WHERE id = $1 AND acked_at IS NULL", id, by)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := o.Pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM outbox_actions WHERE id = $1)", id).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("%s: %w", id, konkursvarsel.ErrAlreadyAcked)
	}
	return fmt.Errorf("%s: %w", id, konkursvarsel.ErrUnknownAction)
}
