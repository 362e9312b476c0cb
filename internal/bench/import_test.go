package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// TestBenchImportReport is the import part of `make bench-scale` (DSOP_BENCH_IMPORT=1, issue #28).
// For each size of DSOP_BENCH_IMPORT_SIZES (default 1000000,10000000 transactions) it writes a
// bank data file (a probe debtor's 11 accounts as in the scale report, the rest in accounts of 333
// transactions, a mid-size bank's shape), runs `dsop-bank import` as its own process and prints its
// rate end to end (check included), peak RSS and the database's size; then serves the probe
// debtor (2a, details, first page, page 20) while idle and while the same file is imported again
// beside it (p50/p99 and errors), and applies a change set of 10 000 transactions.
// Reported, never asserted.
func TestBenchImportReport(t *testing.T) {
	if os.Getenv("DSOP_BENCH_IMPORT") != "1" {
		t.Skip("run with make bench-scale (DSOP_BENCH_IMPORT=1)")
	}
	sizes := []int{1_000_000, 10_000_000}
	if v := os.Getenv("DSOP_BENCH_IMPORT_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(t, err, "DSOP_BENCH_IMPORT_SIZES")
			sizes = append(sizes, n)
		}
	}
	ctx := context.Background()
	url := pgtest.URL(t)
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, postgres.Migrate(ctx, pool))
	dir := t.TempDir()
	bin := filepath.Join(dir, "dsop-bank")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/dsop-bank")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	secretFile := filepath.Join(dir, "secret.key")
	require.NoError(t, os.WriteFile(secretFile, secret, 0o600))
	env := append(os.Environ(), "DSOP_DATABASE_URL="+url, "DSOP_SECRET_FILE="+secretFile, "DSOP_STATE_DIR="+dir)

	policy, err := filter.New(filter.Overrides{})
	require.NoError(t, err)
	oslo, _ := time.LoadLocation("Europe/Oslo")
	now := time.Now()
	to := civil.Today(now, oslo)
	from := to.AddDate(0, -11, 0)
	end := now.Add(-time.Hour).UTC().Truncate(time.Second)
	notices := &postgres.NoticeStore{Pool: pool}
	_, err = notices.Apply(ctx, []konkursvarsel.Notice{{UUID: "37f86010-2163-43e8-95a9-c9721e8da770", Type: konkursvarsel.Aapning,
		Registreringstidspunkt: now.UTC().Truncate(time.Millisecond), Kjennelsesdato: to, Debitor: probeDebtor}})
	require.NoError(t, err)
	w := wire(t, pool, notices, policy, 3*time.Hour)
	handler := httpapi.NewServer(w.deps)
	refs := accounts.NewReferencer(secret)
	window := "fromDate=" + from.String() + "&toDate=" + to.String()
	probe, deep := refs.Reference(importNumber(probeDebtor, 0)), refs.Reference(importNumber(probeDebtor, 10))

	// do sends one request as BRREG does (clear JSON, to read links) and returns the answer.
	do := func(target, party string) (*httptest.ResponseRecorder, time.Duration) {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Authorization", "Bearer "+w.token)
		req.Header.Set("AccountInfoRequestID", "d4a820ca-ddde-11ed-b5ea-0242ac120002")
		req.Header.Set("CorrelationID", "14fbc062-aacb-4449-93c1-85c352d387a4")
		req.Header.Set("Legal-Mandate", "kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721")
		req.Header.Set("Accept", "application/json")
		if party != "" {
			req.Header.Set("PartyID", party)
		}
		rec := httptest.NewRecorder()
		began := time.Now()
		handler.ServeHTTP(rec, req)
		return rec, time.Since(began)
	}
	serve := func(target, party string) (time.Duration, bool) {
		rec, d := do(target, party)
		return d, rec.Code == http.StatusOK
	}
	deepTarget := func() string {
		target := "/v2/accounts/" + deep + "/transactions?" + window
		for range 19 {
			rec, _ := do(target, "")
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			next := nextLink(rec.Body.Bytes())
			require.NotEmpty(t, next)
			target = "/v2/accounts/" + deep + "/transactions?" + strings.SplitN(next, "?", 2)[1]
		}
		return target
	}
	mix := func() []struct{ target, party string } {
		return []struct{ target, party string }{
			{"/v2/accounts?OnlyPrimaryOwner=true&" + window, probeDebtor},
			{"/v2/accounts/" + probe + "?" + window, ""},
			{"/v2/accounts/" + probe + "/transactions?" + window, ""},
			{deepTarget(), ""},
		}
	}
	importRun := func(args ...string) (time.Duration, int64, string) {
		cmd := exec.Command(bin, append([]string{"import"}, args...)...)
		if len(args) > 0 && args[0] == "nice" { // nice -n N: the import at a lower CPU priority
			cmd = exec.Command(args[0], append(append(args[1:3:3], bin, "import"), args[3:]...)...)
		}
		cmd.Env = env
		began := time.Now()
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return time.Since(began), cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, string(out)
	}

	fmt.Printf("%-12s %8s %10s %10s %8s %8s | %-15s %-15s %-15s %-15s | %s\n", "transactions", "file MB", "import s", "tx/s", "RSS MiB", "data MiB",
		"2a p50/p99", "details", "first page", "page 20", "all four: idle → during an import (p50/p99 ms, errors)")
	for _, size := range sizes {
		file := filepath.Join(dir, fmt.Sprintf("bank-%d.json", size))
		n := writeImportFile(t, file, size, end)
		fi, err := os.Stat(file)
		require.NoError(t, err)
		took, rss, _ := importRun("--bank-data", file)
		var dbBytes int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'`).Scan(&dbBytes))
		_, err = pool.Exec(ctx, "ANALYZE")
		require.NoError(t, err)
		checkpoint(t)

		targets := mix()
		var idle [4][]time.Duration
		var idleAll []time.Duration
		// Idle at the same pace as during the import (one request every 20 ms): back to back, the
		// caches and the scheduler stay warm and a request costs less than when it comes alone,
		// so an unpaced baseline would not compare like with like.
		for range 100 {
			for i, q := range targets {
				time.Sleep(20 * time.Millisecond)
				d, ok := serve(q.target, q.party)
				require.True(t, ok, q.target)
				idle[i] = append(idle[i], d)
				idleAll = append(idleAll, d)
			}
		}
		// The same file again while serving: requests at a steady pace until the import ends.
		duringImport := func(args ...string) (during []time.Duration, errors int) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				importRun(append(args, "--bank-data", file)...)
			}()
			for i := 0; ; i++ {
				select {
				case <-done:
					return during, errors
				case <-time.After(20 * time.Millisecond):
				}
				q := targets[i%len(targets)]
				d, ok := serve(q.target, q.party)
				during = append(during, d)
				if !ok {
					errors++
				}
			}
		}
		during, errors := duringImport()
		cell := func(d []time.Duration) string { return fmt.Sprintf("%.2f / %.2f", pct(d, 0.5), pct(d, 0.99)) }
		fmt.Printf("%-12d %8d %10.1f %10.0f %8d %8d | %-15s %-15s %-15s %-15s | %s → %s (%d requests, %d errors)\n",
			n, fi.Size()>>20, took.Seconds(), float64(n)/took.Seconds(), rss>>10, dbBytes>>20,
			cell(idle[0]), cell(idle[1]), cell(idle[2]), cell(idle[3]), cell(idleAll), cell(during), len(during), errors)
		if size == sizes[0] {
			// The two ways to give serving more room on a shared host (docs/bank-data.md).
			for _, way := range [][]string{{"nice", "-n", "19"}, {"--max-rate", "10000"}} {
				during, errors := duringImport(way...)
				fmt.Printf("%-12s during an import run as %s: %s (%d requests, %d errors)\n", "", strings.Join(way, " "), cell(during), len(during), errors)
			}
		}
		require.NoError(t, os.Remove(file))
	}

	// A change set of 10 000 new transactions on the probe debtor's account.
	delta := filepath.Join(dir, "delta.json")
	f, err := os.Create(delta)
	require.NoError(t, err)
	bw := bufio.NewWriter(f)
	a := benchAccount(importNumber(probeDebtor, 0), probeDebtor)
	head, _ := json.Marshal(a)
	fmt.Fprintf(bw, `{"sequence": 1, "accounts": [%s, "transactions": [`, strings.TrimSuffix(string(head), "}"))
	for i := range 10_000 {
		if i > 0 {
			bw.WriteByte(',')
		}
		b, _ := json.Marshal(transaction(900_000_000+i, end.Add(-time.Duration(i)*time.Second-500*time.Millisecond)))
		bw.Write(b)
	}
	bw.WriteString("]}]}\n")
	require.NoError(t, bw.Flush())
	require.NoError(t, f.Close())
	took, _, out := importRun("--delta", delta)
	fmt.Printf("change set of 10 000 transactions: %s, as the command ran it (%s)\n", took.Round(time.Millisecond), strings.TrimSpace(out))
}

// importNumber is an account number of the import bench, distinct per owner and index.
func importNumber(owner string, i int) string { return fmt.Sprintf("%s%010d", owner[:1], i) }

// writeImportFile writes a bank data file of about size transactions: the probe debtor's 11
// accounts (10 × 3 000 and 1 × 60 000) and the rest in accounts of 333 (owned by 1 000 filler
// companies), each a minute apart back from end. It returns the number of transactions.
func writeImportFile(t *testing.T, path string, size int, end time.Time) int {
	f, err := os.Create(path)
	require.NoError(t, err)
	bw := bufio.NewWriterSize(f, 1<<20)
	fillers := validOrgNumbers(1000)
	bw.WriteString(`{"servicer": {"organisationNumber": "900293003", "name": "Scale ASA"}, "parties": [`)
	fmt.Fprintf(bw, `{"id": %q}`, probeDebtor)
	for _, p := range fillers {
		fmt.Fprintf(bw, `,{"id": %q}`, p)
	}
	bw.WriteString(`], "accounts": [`)
	n, acct := 0, 0
	write := func(owner string, i, count int) {
		if acct > 0 {
			bw.WriteByte(',')
		}
		acct++
		head, _ := json.Marshal(benchAccount(importNumber(owner, i), owner))
		bw.Write(head[:len(head)-1])
		bw.WriteString(`,"transactions":[`)
		for j := range count {
			if j > 0 {
				bw.WriteByte(',')
			}
			b, _ := json.Marshal(transaction(j, end.Add(-time.Duration(j)*time.Minute)))
			bw.Write(b)
		}
		bw.WriteString("]}")
		n += count
	}
	for i := range 11 {
		write(probeDebtor, i, map[bool]int{true: 60_000, false: 3000}[i == 10])
	}
	for i := 100; n < size; i++ { // from 100: the probe debtor's numbers are its own
		write(fillers[i%len(fillers)], i, min(333, size-n))
	}
	bw.WriteString("]}\n")
	require.NoError(t, bw.Flush())
	require.NoError(t, f.Close())
	return n
}

// validOrgNumbers are n organisation numbers with valid check digits (mod 11), from 800000000 up.
func validOrgNumbers(n int) []string {
	weights := []int{3, 2, 7, 6, 5, 4, 3, 2}
	var out []string
	for base := 80000000; len(out) < n; base++ {
		digits := fmt.Sprintf("%08d", base)
		sum := 0
		for i, w := range weights {
			sum += int(digits[i]-'0') * w
		}
		k := 11 - sum%11
		if k == 10 {
			continue
		}
		if k == 11 {
			k = 0
		}
		out = append(out, digits+strconv.Itoa(k))
	}
	return out
}
