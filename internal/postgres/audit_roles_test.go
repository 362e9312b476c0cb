package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// servingRole makes a role with exactly the grants the README asks for the serving role, and a
// pool whose sessions act as it. The migrations (and the tables) belong to the test's admin.
func servingRole(t *testing.T) (admin, serving *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.URL(t)
	admin, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	require.NoError(t, Migrate(ctx, admin))
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	role := "dsop_serving_" + hex.EncodeToString(b)
	var schema string
	require.NoError(t, admin.QueryRow(ctx, "SELECT current_schema()").Scan(&schema))
	for _, sql := range []string{
		"CREATE ROLE " + role + " NOLOGIN",
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
		"GRANT SELECT ON schema_migrations TO " + role,
		"GRANT SELECT, INSERT ON audit_records TO " + role,
		"GRANT SELECT ON audit_checkpoint TO " + role,
		"GRANT EXECUTE ON FUNCTION dsop_audit_expire(bigint, text) TO " + role,
	} {
		_, err := admin.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = admin.Exec(context.Background(), "DROP ROLE "+role)
	})
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET ROLE "+role)
		return err
	}
	serving, err = pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(serving.Close)
	return admin, serving
}

// The serving role can append and read, and ask for expiry; it cannot delete, update or
// truncate audit rows, not even with the flag the old trigger trusted.
func TestAuditRoles_TheServingRoleCannotRemoveOrChangeRecords(t *testing.T) {
	ctx := context.Background()
	_, serving := servingRole(t)
	require.NoError(t, Migrate(ctx, serving), "serve migrates at start: with everything applied it only reads")
	st := &AuditStore{Pool: serving}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		require.NoError(t, st.Append(ctx, &audit.Record{Time: start.Add(time.Duration(i) * time.Hour), PartyID: "910336819", Status: 200}))
	}
	for _, sql := range []string{
		"DELETE FROM audit_records WHERE seq = 3",
		"UPDATE audit_records SET status = 500 WHERE seq = 3",
		"TRUNCATE audit_records",
		"DELETE FROM audit_checkpoint",
	} {
		_, err := serving.Exec(ctx, sql)
		require.ErrorContains(t, err, "permission denied", sql)
	}
	err := pgx.BeginFunc(ctx, serving, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL dsop.audit_expire = 'on'"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM audit_records WHERE seq = 3")
		return err
	})
	require.ErrorContains(t, err, "permission denied", "the expiry flag gives no right to delete")
	rep, err := audit.Verify(ctx, st, signer())
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
	require.EqualValues(t, 10, rep.Records)

	// Expiry through the privileged function works for the serving role.
	removed, err := audit.Expire(ctx, st, audit.MinRetention, start.Add(5*time.Hour+audit.MinRetention), signer())
	require.NoError(t, err)
	require.Equal(t, 5, removed)
	rep, err = audit.Verify(ctx, st, signer())
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
}

// Called directly, past the Go tools, the expiry function still verifies what it cuts and keeps
// the 90-day floor.
func TestAuditRoles_TheExpiryFunctionVerifiesAndKeepsTheFloor(t *testing.T) {
	ctx := context.Background()
	admin, serving := servingRole(t)
	st := &AuditStore{Pool: serving}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		require.NoError(t, st.Append(ctx, &audit.Record{Time: start.Add(time.Duration(i) * time.Hour), PartyID: "910336819", Status: 200}))
	}
	pgTamper{admin}.Edit(t, 3)
	_, err := st.Expire(ctx, start.Add(5*time.Hour), signer())
	require.ErrorContains(t, err, "audit chain broken at record 3")
	pgTamper{admin}.Delete(t, 4)
	_, err = st.Expire(ctx, start.Add(5*time.Hour), signer())
	require.ErrorContains(t, err, "audit chain broken")

	fresh := &AuditStore{Pool: servingPoolOnly(t)}
	now := time.Now().UTC()
	for range 3 {
		require.NoError(t, fresh.Append(ctx, &audit.Record{Time: now, Status: 200}))
	}
	_, err = fresh.Expire(ctx, now.Add(time.Hour), signer())
	require.ErrorContains(t, err, "90-day floor")
	rep, err := audit.Verify(ctx, fresh, signer())
	require.NoError(t, err)
	require.EqualValues(t, 3, rep.Records)
}

func servingPoolOnly(t *testing.T) *pgxpool.Pool {
	_, serving := servingRole(t)
	return serving
}

func signer() *audit.Signer { return audit.NewSigner([]byte("0123456789abcdef0123456789abcdef")) }
