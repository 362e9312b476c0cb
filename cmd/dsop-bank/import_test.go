package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// generation is what the serving tables hold, in one snapshot: enough to tell two generations
// apart, and a mixture from either.
type generation struct {
	Parties, Accounts, Transactions int
	Digest                          string
}

func servingGeneration(t *testing.T, pool *pgxpool.Pool) generation {
	t.Helper()
	var g generation
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM parties), (SELECT count(*) FROM accounts),
		count(*), md5(string_agg(reference || transaction_id, ',' ORDER BY reference, effective_at, transaction_id)) FROM transactions`).
		Scan(&g.Parties, &g.Accounts, &g.Transactions, &g.Digest))
	return g
}

// An import killed at any point (while loading, while indexing, just before or inside the switch,
// while dropping the old generation) leaves one whole generation serving — the old one until the
// switch commits, the new one after — never a mixture, and the next import succeeds (issue #28).
func TestImport_KilledAtAnyPointLeavesOneWholeGenerationServing(t *testing.T) {
	dbURL := pgtest.URL(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "dsop-bank")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	env := append(os.Environ(), "DSOP_DATABASE_URL="+dbURL, "DSOP_STATE_DIR="+dir)
	gen := func(name string, accounts, transactions, seed int) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		require.NoError(t, err)
		require.NoError(t, run(context.Background(), []string{"gen", "--accounts", fmt.Sprint(accounts), "--transactions", fmt.Sprint(transactions), "--seed", fmt.Sprint(seed)}, os.Getenv, f, &bytes.Buffer{}))
		require.NoError(t, f.Close())
		return path
	}
	oldFile, newFile := gen("old.json", 10, 200, 1), gen("new.json", 40, 2500, 2) // transactions per account
	importFile := func(file string) {
		cmd := exec.Command(bin, "import", "--bank-data", file)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	defer pool.Close()
	importFile(newFile)
	newGen := servingGeneration(t, pool)
	importFile(oldFile)
	oldGen := servingGeneration(t, pool)
	require.NotEqual(t, oldGen, newGen)

	for _, point := range []struct {
		name, line string
		after      time.Duration // how long after the line the process is killed
	}{
		{"while loading", "% (", 0},
		{"while indexing", "building the new generation's indexes", 0},
		{"at the switch", "switching to the new generation", 0},
		{"inside the switch", "switching to the new generation", 5 * time.Millisecond},
		{"while dropping the old generation", "dropping the previous generation", 0},
	} {
		t.Run(point.name, func(t *testing.T) {
			cmd := exec.Command(bin, "import", "--bank-data", newFile)
			cmd.Env = env
			stderr, err := cmd.StderrPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			seen := false
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if strings.Contains(sc.Text(), point.line) {
					seen = true
					break
				}
			}
			time.Sleep(point.after)
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			require.True(t, seen, "the import reached %q", point.line)

			got := servingGeneration(t, pool)
			if got != oldGen {
				require.Equal(t, newGen, got, "one whole generation serves, never a mixture")
			}
			var staged int
			require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE '%\_stage'`).Scan(&staged))
			t.Logf("killed %s: serving the %s generation, %d stage tables left for the next import to drop",
				point.name, map[bool]string{true: "old", false: "new"}[got == oldGen], staged)

			importFile(oldFile) // the next import drops what was left and succeeds
			require.Equal(t, oldGen, servingGeneration(t, pool))
		})
	}
}

// The outage of issue #28: bank-data queries stuck behind a lock fill the main pool, and every
// request fails — but each refusal is recorded, because the audit log has connections of its own
// (DSOP_AUDIT_POOL_SIZE).
func TestImport_RefusalsAreRecordedWhileBankDataQueriesAreStuck(t *testing.T) {
	dbURL := pgtest.URL(t)
	ctx := context.Background()
	state := t.TempDir()
	file := filepath.Join(t.TempDir(), "bank.json")
	require.NoError(t, os.WriteFile(file, []byte(demoBankJSON(t)), 0o600))
	env := map[string]string{"DSOP_DATABASE_URL": dbURL + "&pool_max_conns=4", "DSOP_STATE_DIR": state, "DSOP_ADDR": freeAddr(t), "DSOP_DEV_ISSUER_ADDR": freeAddr(t),
		"DSOP_MOCK_KONKURSVARSEL_ADDR": freeAddr(t), "DSOP_ADMIN_ADDR": freeAddr(t), "DSOP_REQUEST_TIMEOUT": "3s", "DSOP_KONKURSVARSEL_POLL_INTERVAL": "200ms"}
	getenv := func(k string) string { return env[k] }
	require.NoError(t, run(ctx, []string{"import", "--bank-data", file}, getenv, &bytes.Buffer{}, &bytes.Buffer{}))
	srv := startServer(t, env)
	token, list := readyToCall(t, srv)
	require.Eventually(t, func() bool { // the first sync of notices may take a moment
		resp, _ := call(t, env["DSOP_ADDR"], token, list, "08086001471", "00000000-0000-4000-8000-000000000001")
		return resp != nil && resp.StatusCode == 200
	}, 30*time.Second, 200*time.Millisecond, "the server's log:\n%s", srv.stderr)

	// Another session holds the bank tables: every bank-data query waits, and the pool fills.
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "LOCK TABLE parties, accounts, account_roles, transactions IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)
	const n = 8 // twice the main pool
	began := time.Now()
	statuses := make(chan int, n)
	for i := range n {
		go func() {
			resp, _ := call(t, env["DSOP_ADDR"], token, list, "08086001471", fmt.Sprintf("00000000-0000-4000-8000-0000000001%02d", i))
			if resp == nil {
				statuses <- 0
				return
			}
			statuses <- resp.StatusCode
		}()
	}
	for range n {
		require.Equal(t, 503, <-statuses, "a stuck database is a clean 503 ACC-100, never a hang")
	}
	require.NoError(t, tx.Rollback(ctx))

	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"audit", "query", "--since", began.Format(time.RFC3339Nano), "--status", "503", "--format", "json"}, srv.getenv, &out, srv.stderr))
	require.Equal(t, n, strings.Count(out.String(), "\n"), "every refusal recorded:\n%s", out.String())
}

// readyToCall waits for a started server and returns a development token and the step-2a target
// for the demo debtors over their whole window.
func readyToCall(t *testing.T, srv *served) (token, list string) {
	t.Helper()
	waitForOutput(t, srv.stdout, "curl -s", srv.stderr)
	var tok bytes.Buffer
	require.NoError(t, run(srv.ctx, []string{"dev-token"}, srv.getenv, &tok, srv.stderr))
	today := time.Now().In(mustOslo(t)).Format(time.DateOnly)
	return strings.TrimSpace(tok.String()), "/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate=" + today
}
