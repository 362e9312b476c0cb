package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/accounts/accountstest"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// Against a database without imported bank data the server is not ready, and says why; on
// SIGTERM /readyz turns 503 for the drain delay; and with the database frozen the shutdown still
// ends within DSOP_SHUTDOWN_TIMEOUT (+1 s).
func TestFailure_ReadinessDrainAndShutdownWithAFrozenDatabase(t *testing.T) {
	f := pgtest.FreezableURL(t)
	env := map[string]string{"DSOP_ADDR": freeAddr(t), "DSOP_DEV_ISSUER_ADDR": freeAddr(t), "DSOP_MOCK_KONKURSVARSEL_ADDR": freeAddr(t),
		"DSOP_ADMIN_ADDR": freeAddr(t), "DSOP_STATE_DIR": t.TempDir(), "DSOP_DATABASE_URL": f.URL,
		"DSOP_SHUTDOWN_TIMEOUT": "2s", "DSOP_DRAIN_DELAY": "500ms", "DSOP_LEADER_CHECK": "200ms"}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuf
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, &stdout, &stderr) }()
	defer cancel()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "dsop-bank listening") }, 15*time.Second, 20*time.Millisecond, stderr.String())
	admin := "http://" + env["DSOP_ADMIN_ADDR"]
	var body string
	require.Eventually(t, func() bool {
		var code int
		code, body = httpGet(t, admin+"/readyz")
		return code == 503 && strings.Contains(body, "bank-data")
	}, 5*time.Second, 50*time.Millisecond, "not ready without bank data: %s", body)
	require.Contains(t, body, "has the bank data been imported?")

	f.Freeze()
	cancel() // SIGTERM
	require.Eventually(t, func() bool {
		code, b := httpGet(t, admin+"/readyz")
		return code == 503 && strings.Contains(b, "shutting down")
	}, time.Second, 20*time.Millisecond, "draining: /readyz says so while the listeners still serve")
	start := time.Now()
	select {
	case <-done:
	case <-time.After(2*time.Second + time.Second):
		t.Fatalf("shutdown took longer than DSOP_SHUTDOWN_TIMEOUT + 1 s with the database frozen\n%s", stderr.String())
	}
	t.Logf("shutdown returned %s after the drain check", time.Since(start))
}

// Two replicas must derive the same accountReference values: a replica started with another
// secret than the database was set up with is refused, naming both fingerprints.
func TestFailure_ReplicaWithAnotherSecretIsRefused(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	first := map[string]string{"DSOP_ADDR": freeAddr(t), "DSOP_DEV_ISSUER_ADDR": freeAddr(t), "DSOP_MOCK_KONKURSVARSEL_ADDR": freeAddr(t),
		"DSOP_ADMIN_ADDR": freeAddr(t), "DSOP_STATE_DIR": t.TempDir(), "DSOP_DATABASE_URL": url,
		"DSOP_SECRET_FILE": write("secret-a", testSecretA)}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"import", "--bank-data", write("bank.json", demoBankJSON(t))}, func(k string) string { return first[k] }, &out, io.Discard))
	startServer(t, first)

	second := map[string]string{}
	for k, v := range first {
		second[k] = v
	}
	for _, k := range []string{"DSOP_ADDR", "DSOP_DEV_ISSUER_ADDR", "DSOP_MOCK_KONKURSVARSEL_ADDR", "DSOP_ADMIN_ADDR"} {
		second[k] = freeAddr(t)
	}
	second["DSOP_STATE_DIR"] = t.TempDir()
	second["DSOP_SECRET_FILE"] = write("secret-b", testSecretB)
	stderr, err := serveOnce(second)
	require.Error(t, err, stderr)
	require.Contains(t, err.Error(), "DSOP_SECRET_FILE is not the secret this database was set up with")
	require.Contains(t, err.Error(), accounts.Fingerprint([]byte(testSecretA)))
	require.Contains(t, err.Error(), accounts.Fingerprint([]byte(testSecretB)))
	require.NotContains(t, err.Error(), testSecretB, "never the secret itself")

	second["DSOP_SECRET_FILE"] = first["DSOP_SECRET_FILE"]
	_, err = serveOnce(second)
	require.NoError(t, err, "the same secret starts: the refusal above was the mismatch's")
}

func demoBankJSON(t *testing.T) string {
	b, err := io.ReadAll(demo.BankData())
	require.NoError(t, err)
	return string(b)
}

// import streams the file (transactions go straight into COPY), reports progress, and gives the
// same database as the in-memory import; importing the same file again changes nothing.
func TestImport_StreamsAFileAndReportsProgress(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "bank.json")
	var gen bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"gen", "--accounts", "4", "--transactions", "6000", "--end", "2026-11-20"}, os.Getenv, &gen, io.Discard))
	require.NoError(t, os.WriteFile(file, gen.Bytes(), 0o600))
	env := map[string]string{"DSOP_DATABASE_URL": url, "DSOP_STATE_DIR": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	var out, errOut bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"import", "--bank-data", file}, getenv, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "imported "+file+": 3 parties, 4 accounts, 24000 transactions")
	require.Contains(t, errOut.String(), "importing "+file+":", "progress lines when not on a terminal")

	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	defer pool.Close()
	dump := func() string {
		var s string
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT md5(string_agg(reference || effective_at::text || transaction_id || doc::text, ',' ORDER BY reference, effective_at, transaction_id)) FROM transactions`).Scan(&s))
		var a string
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT md5(string_agg(reference || doc::text, ',' ORDER BY reference)) FROM accounts`).Scan(&a))
		return s + a
	}
	streamed := dump()
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"import", "--bank-data", file}, getenv, &out, io.Discard))
	require.Equal(t, streamed, dump(), "re-importing the same file gives the same database")

	bd, err := accounts.DecodeBankData(bytes.NewReader(gen.Bytes()))
	require.NoError(t, err)
	secret, err := os.ReadFile(filepath.Join(env["DSOP_STATE_DIR"], "secret.key"))
	require.NoError(t, err)
	policy, err := filter.New(filter.Overrides{})
	require.NoError(t, err)
	_, err = postgres.ImportFile(context.Background(), pool, accountstest.WriteFile(t, bd), accounts.NewReferencer(secret), policy, postgres.ImportOptions{})
	require.NoError(t, err)
	require.Equal(t, streamed, dump(), "the streaming import writes what the in-memory import writes")
}
