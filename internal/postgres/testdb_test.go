package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// testPool connects to DSOP_TEST_DATABASE_URL in a schema of its own, migrated, dropped after
// the test. Without the variable the test is skipped, visibly, unless DSOP_REQUIRE_POSTGRES=1.
func testPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	url := os.Getenv("DSOP_TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("DSOP_REQUIRE_POSTGRES") == "1" {
			t.Fatal("DSOP_REQUIRE_POSTGRES=1 but DSOP_TEST_DATABASE_URL is not set")
		}
		t.Skip("SKIP PostgreSQL: DSOP_TEST_DATABASE_URL is not set")
	}
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		pool.Close()
		_, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	require.NoError(t, Migrate(ctx, pool))
	return pool
}
