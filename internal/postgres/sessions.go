package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dsop-bank/dsop-bank/internal/sessions"
)

// Sessions is the console's session store shared by every replica (migration 0007).
type Sessions struct{ Pool *pgxpool.Pool }

var _ sessions.Store = (*Sessions)(nil)

// Create implements sessions.Store; expired sessions and logins are dropped as new ones come.
func (s *Sessions) Create(ctx context.Context, x sessions.Session) error {
	b := &pgx.Batch{}
	b.Queue("DELETE FROM console_sessions WHERE expires < now()")
	b.Queue("DELETE FROM console_logins WHERE expires < now()")
	b.Queue(`INSERT INTO console_sessions (id, sub, name, role, csrf, created, seen, role_checked, refresh_token, expires)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, x.ID, x.Sub, x.Name, x.Role, x.CSRF, x.Created, x.Seen, x.RoleChecked, x.RefreshToken, x.Expires)
	if err := s.Pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("console session: %w", err)
	}
	return nil
}

// Get implements sessions.Store.
func (s *Sessions) Get(ctx context.Context, id string) (sessions.Session, error) {
	x := sessions.Session{ID: id}
	err := s.Pool.QueryRow(ctx, `SELECT sub, name, role, csrf, created, seen, role_checked, refresh_token, expires FROM console_sessions WHERE id = $1`, id).
		Scan(&x.Sub, &x.Name, &x.Role, &x.CSRF, &x.Created, &x.Seen, &x.RoleChecked, &x.RefreshToken, &x.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return sessions.Session{}, sessions.ErrNotFound
	}
	if err != nil {
		return sessions.Session{}, fmt.Errorf("console session: %w", err)
	}
	x.Created, x.Seen, x.RoleChecked, x.Expires = x.Created.UTC(), x.Seen.UTC(), x.RoleChecked.UTC(), x.Expires.UTC()
	return x, nil
}

// Update implements sessions.Store.
func (s *Sessions) Update(ctx context.Context, x sessions.Session) error {
	tag, err := s.Pool.Exec(ctx, `UPDATE console_sessions SET name = $2, role = $3, csrf = $4, seen = $5, role_checked = $6, refresh_token = $7, expires = $8
		WHERE id = $1`, x.ID, x.Name, x.Role, x.CSRF, x.Seen, x.RoleChecked, x.RefreshToken, x.Expires)
	if err != nil {
		return fmt.Errorf("console session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return sessions.ErrNotFound
	}
	return nil
}

// Delete implements sessions.Store.
func (s *Sessions) Delete(ctx context.Context, id string) error {
	_, err := s.Pool.Exec(ctx, "DELETE FROM console_sessions WHERE id = $1", id)
	return err
}

// DeleteUser implements sessions.Store.
func (s *Sessions) DeleteUser(ctx context.Context, sub string) (int, error) {
	tag, err := s.Pool.Exec(ctx, "DELETE FROM console_sessions WHERE sub = $1", sub)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// PutLogin implements sessions.Store.
func (s *Sessions) PutLogin(ctx context.Context, l sessions.Login) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO console_logins (state, nonce, verifier, return, expires) VALUES ($1, $2, $3, $4, $5)`,
		sessions.Key(l.State), l.Nonce, l.Verifier, l.Return, l.Expires)
	return err
}

// TakeLogin implements sessions.Store: DELETE … RETURNING, so two callbacks with one state
// cannot both succeed.
func (s *Sessions) TakeLogin(ctx context.Context, state string) (sessions.Login, error) {
	l := sessions.Login{State: state}
	err := s.Pool.QueryRow(ctx, `DELETE FROM console_logins WHERE state = $1 RETURNING nonce, verifier, return, expires`, sessions.Key(state)).
		Scan(&l.Nonce, &l.Verifier, &l.Return, &l.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return sessions.Login{}, sessions.ErrNotFound
	}
	l.Expires = l.Expires.UTC()
	return l, err
}
