package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// The least-privilege roles recipe works as written (issue #27): deploy/postgres/roles.sql
// applied to a real PostgreSQL once, `migrate` as dsop_owner (which grants the roles on its
// tables), `import` as dsop_import and `serve` as dsop_app answering a request — and the serving
// role cannot remove an audit record.
func TestRoles_TheRecipeRunsMigrateImportAndServe(t *testing.T) {
	superURL := pgtest.URL(t)
	ctx := context.Background()
	super, err := pgxpool.New(ctx, superURL)
	require.NoError(t, err)
	defer super.Close()
	recipe, err := os.ReadFile("../../deploy/postgres/roles.sql")
	require.NoError(t, err)
	apply := func() {
		_, err := super.Exec(ctx, string(recipe)) // no arguments: the simple protocol runs the whole file
		require.NoError(t, err)
	}
	apply() // before the first migrate: the roles, and the owner's right to create tables
	apply() // idempotent
	for _, r := range []string{"dsop_owner", "dsop_import", "dsop_app"} {
		_, err := super.Exec(ctx, "ALTER ROLE "+r+" LOGIN") // this test cluster trusts local logins
		require.NoError(t, err)
	}
	as := func(role string) string {
		u, err := url.Parse(superURL)
		require.NoError(t, err)
		u.User = url.User(role)
		return u.String()
	}
	state := t.TempDir()
	env := func(role string) map[string]string {
		return map[string]string{"DSOP_DATABASE_URL": as(role), "DSOP_STATE_DIR": state, "DSOP_ADDR": freeAddr(t), "DSOP_DEV_ISSUER_ADDR": freeAddr(t),
			"DSOP_MOCK_KONKURSVARSEL_ADDR": freeAddr(t), "DSOP_ADMIN_ADDR": freeAddr(t)}
	}
	getenv := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	var out, errOut bytes.Buffer
	require.NoError(t, run(ctx, []string{"migrate"}, getenv(env("dsop_owner")), &out, &errOut), errOut.String())
	// migrate grants the roles on the tables it made: nothing to run again after it.
	require.Contains(t, out.String(), "granted dsop_app and dsop_import")
	file := filepath.Join(t.TempDir(), "bank.json")
	require.NoError(t, os.WriteFile(file, []byte(demoBankJSON(t)), 0o600))
	require.NoError(t, run(ctx, []string{"import", "--bank-data", file}, getenv(env("dsop_import")), &out, &errOut), errOut.String())

	serving := env("dsop_app")
	srv := startServer(t, serving)
	defer func() { require.NoError(t, srv.stop()) }()
	waitForOutput(t, srv.stdout, "curl -s", srv.stderr)
	var tok bytes.Buffer
	require.NoError(t, run(srv.ctx, []string{"dev-token"}, srv.getenv, &tok, srv.stderr))
	today := time.Now().In(mustOslo(t)).Format(time.DateOnly)
	resp, body := call(t, serving["DSOP_ADDR"], strings.TrimSpace(tok.String()), "/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate="+today, "910336819", "00000000-0000-4000-8000-000000000001")
	require.Equal(t, 200, resp.StatusCode, string(body))

	app, err := pgxpool.New(ctx, as("dsop_app"))
	require.NoError(t, err)
	defer app.Close()
	var n int
	require.NoError(t, app.QueryRow(ctx, "SELECT count(*) FROM audit_records").Scan(&n))
	require.Positive(t, n, "the serving role appended the request's record")
	_, err = app.Exec(ctx, "DELETE FROM audit_records")
	require.Error(t, err, "the serving role cannot remove a record")
	_, err = app.Exec(ctx, "TRUNCATE transactions")
	require.Error(t, err, "nor change the bank data")
	_, err = app.Exec(ctx, "SELECT dsop_bank_discard()")
	require.ErrorContains(t, err, "permission denied", "nor drop a generation")

	// A second import is a new generation, owned by the owner and granted like the first: the
	// serving role reads it, and the import role can apply a change set to it.
	require.NoError(t, run(ctx, []string{"import", "--bank-data", file}, getenv(env("dsop_import")), &out, &errOut), errOut.String())
	resp, body = call(t, serving["DSOP_ADDR"], strings.TrimSpace(tok.String()), "/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate="+today, "910336819", "00000000-0000-4000-8000-000000000002")
	require.Equal(t, 200, resp.StatusCode, string(body))
	var owner string
	require.NoError(t, app.QueryRow(ctx, "SELECT tableowner FROM pg_tables WHERE tablename = 'transactions' AND schemaname = current_schema()").Scan(&owner))
	require.Equal(t, "dsop_owner", owner)
	delta := filepath.Join(t.TempDir(), "delta.json")
	require.NoError(t, os.WriteFile(delta, []byte(`{"sequence": 1, "parties": [{"id": "910336819", "name": "Fjelltopp Bygg AS under konkurs"}]}`), 0o600))
	require.NoError(t, run(ctx, []string{"import", "--delta", delta}, getenv(env("dsop_import")), &out, &errOut), errOut.String())
}
