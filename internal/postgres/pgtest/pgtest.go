// Package pgtest gives each PostgreSQL test a schema of its own on DSOP_TEST_DATABASE_URL, so
// tests can run side by side and leave nothing behind. Without the variable the test is skipped,
// visibly, unless DSOP_REQUIRE_POSTGRES=1.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// URL creates a fresh schema (dropped after the test) and returns a connection URL using it.
func URL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("DSOP_TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("DSOP_REQUIRE_POSTGRES") == "1" {
			tb.Fatal("DSOP_REQUIRE_POSTGRES=1 but DSOP_TEST_DATABASE_URL is not set")
		}
		tb.Skip("SKIP PostgreSQL: DSOP_TEST_DATABASE_URL is not set")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin, err := pgxpool.New(context.Background(), url)
	require.NoError(tb, err)
	_, err = admin.Exec(context.Background(), "CREATE SCHEMA "+schema)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema
}

// Pool connects to a fresh schema (not migrated: pgtest cannot import the package it tests).
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), URL(tb))
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	return pool
}
