// Package postgres holds the PostgreSQL (pgx) implementations of dsop-bank's stores and the
// schema migrations they need. Migrations are embedded SQL files applied in name order at
// start-up, each once, under an advisory lock so that several replicas can start together.
package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"

	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// grantsSQL grants the least-privilege roles (deploy/postgres/roles.sql) on the tables.
//
//go:embed grants.sql
var grantsSQL string

// Advisory lock keys (arbitrary constants, one per purpose).
const (
	lockMigrate int64 = 0x64736f70_0001 // "dsop" 1
	lockAudit   int64 = 0x64736f70_0002
)

// Migrate applies the migrations that have not run yet. When every one has run it only reads
// schema_migrations, so a serving role without the right to create tables starts (docs/operators.md
// "PostgreSQL roles": the admin role migrates).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := MigrateReport(ctx, pool)
	return err
}

// MigrateReport is Migrate, returning the names of the migrations it applied.
func MigrateReport(ctx context.Context, pool *pgxpool.Pool) (applied []string, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	if upToDate(ctx, conn, names) {
		return nil, nil
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockMigrate); err != nil {
		return nil, fmt.Errorf("migrate lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockMigrate) //nolint:errcheck
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		var done bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)", name).Scan(&done); err != nil {
			return applied, fmt.Errorf("migrate %s: %w", name, err)
		}
		if done {
			continue
		}
		sql, err := migrations.ReadFile(name)
		if err != nil {
			return applied, err
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return applied, err
		}
		if _, err := tx.Exec(ctx, string(sql)); err != nil {
			_ = tx.Rollback(ctx)
			return applied, fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (name) VALUES ($1)", name); err != nil {
			_ = tx.Rollback(ctx)
			return applied, fmt.Errorf("migrate %s: %w", name, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return applied, fmt.Errorf("migrate %s: %w", name, err)
		}
		applied = append(applied, path.Base(name))
	}
	return applied, nil
}

// upToDate reports whether every migration is recorded as applied (false on any doubt).
func upToDate(ctx context.Context, conn *pgxpool.Conn, names []string) bool {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil || !exists {
		return false
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM schema_migrations WHERE name = ANY($1)", names).Scan(&n); err != nil {
		return false
	}
	return n == len(names)
}

// GrantRoles grants the least-privilege roles of deploy/postgres/roles.sql (dsop_app, dsop_import)
// what each needs on the tables and functions that exist (grants.sql), when those roles exist and
// this connection's role owns the tables (the one that migrated them) or is a superuser. It
// reports whether it granted; without the roles, or as another role, it does nothing. Idempotent.
func GrantRoles(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	var can bool
	err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM pg_roles WHERE rolname IN ('dsop_app', 'dsop_import')) = 2
		AND ((SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
		     OR EXISTS (SELECT FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations' AND tableowner = current_user))`).Scan(&can)
	if err != nil || !can {
		return false, err
	}
	// No arguments: the simple protocol runs the DO block as written.
	if _, err := pool.Exec(ctx, grantsSQL); err != nil {
		return false, fmt.Errorf("grant the least-privilege roles: %w", err)
	}
	return true, nil
}
