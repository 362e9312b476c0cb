package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// RecordSecret stores the fingerprint of the secret an import used (the accountReference values
// it wrote derive from it) and returns the one it replaces, if another.
func RecordSecret(ctx context.Context, pool *pgxpool.Pool, fingerprint string) (previous string, err error) {
	err = pool.QueryRow(ctx, `WITH old AS (SELECT value FROM dsop_settings WHERE key = 'secret_fingerprint')
		INSERT INTO dsop_settings (key, value) VALUES ('secret_fingerprint', $1)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
		RETURNING coalesce((SELECT value FROM old), '')`, fingerprint).Scan(&previous)
	if err != nil {
		return "", fmt.Errorf("record the secret's fingerprint: %w", err)
	}
	if previous == fingerprint {
		previous = ""
	}
	return previous, nil
}

// CheckSecret refuses a secret whose fingerprint is not the one the database was set up with; the
// first replica to start on a database without one records its own.
func CheckSecret(ctx context.Context, pool *pgxpool.Pool, fingerprint string) error {
	// SELECT and INSERT only: the serving role has no UPDATE here.
	if _, err := pool.Exec(ctx, `INSERT INTO dsop_settings (key, value) VALUES ('secret_fingerprint', $1) ON CONFLICT (key) DO NOTHING`, fingerprint); err != nil {
		return fmt.Errorf("check the secret's fingerprint: %w", err)
	}
	var stored string
	if err := pool.QueryRow(ctx, `SELECT value FROM dsop_settings WHERE key = 'secret_fingerprint'`).Scan(&stored); err != nil {
		return fmt.Errorf("check the secret's fingerprint: %w", err)
	}
	if stored != fingerprint {
		return fmt.Errorf("DSOP_SECRET_FILE is not the secret this database was set up with (fingerprint %s here, %s in the database, recorded by dsop-bank import or the first replica): every replica must use the same secret file, or accountReference values differ between them", fingerprint, stored)
	}
	return nil
}
