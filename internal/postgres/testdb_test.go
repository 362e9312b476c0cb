package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// testPool is a migrated schema of the test's own.
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.Pool(t)
	require.NoError(t, Migrate(context.Background(), pool))
	return pool
}

func defaultPolicy(t testing.TB) *filter.Policy {
	t.Helper()
	p, err := filter.New(filter.Overrides{})
	require.NoError(t, err)
	return p
}
