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
