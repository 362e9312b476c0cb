package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// TestBenchAuditReport is the driver of `make bench-audit` (DSOP_BENCH_AUDIT=1, issue #25): it
// builds audit logs of DSOP_BENCH_AUDIT_SIZES records (default 1 000 000 in the file store and
// 1 000 000 and 10 000 000 in PostgreSQL) shaped like years of traffic — cases of a few calls,
// parties with a few cases, one anonymous refusal in five — starts dsop-bank on each as its own
// process with the console, and prints, each as wall time and peak RSS: a console Cases page, a
// case report and a party search (officer) in the console, and `audit anomalies`, `audit case`,
// `audit query --party` and `audit verify` in the CLI. Then an anonymous flood on 16 connections
// against the API while the console is used: the console page against its idle time, the
// server's peak RSS, and the bytes of log per anonymous refused request. Reported, never asserted.
func TestBenchAuditReport(t *testing.T) {
	if os.Getenv("DSOP_BENCH_AUDIT") != "1" {
		t.Skip("run with make bench-audit (DSOP_BENCH_AUDIT=1)")
	}
	type size struct {
		store string
		n     int
	}
	sizes := []size{{"file", 1_000_000}, {"postgres", 1_000_000}, {"postgres", 10_000_000}}
	if v := os.Getenv("DSOP_BENCH_AUDIT_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			store, n, ok := strings.Cut(strings.TrimSpace(f), ":")
			count, err := strconv.Atoi(n)
			require.True(t, ok && err == nil, "DSOP_BENCH_AUDIT_SIZES: store:records,… e.g. file:1000000,postgres:10000000")
			sizes = append(sizes, size{store, count})
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dsop-bank")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/dsop-bank")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "go build")
	secret := bytes.Repeat([]byte("b"), 32)
	for _, sz := range sizes {
		state := filepath.Join(dir, fmt.Sprintf("%s-%d", sz.store, sz.n))
		require.NoError(t, os.MkdirAll(state, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(state, "secret.key"), secret, 0o600))
		env := append(os.Environ(), "DSOP_STATE_DIR="+state, "DSOP_LOG_LEVEL=warn")
		start := time.Now()
		var sample sample
		switch sz.store {
		case "file":
			sample = fileLog(t, filepath.Join(state, "audit"), sz.n)
		case "postgres":
			u := pgtest.URL(t)
			env = append(env, "DSOP_DATABASE_URL="+u)
			sample = postgresLog(t, u, sz.n)
		default:
			t.Fatalf("store %q: file or postgres", sz.store)
		}
		fmt.Printf("\n== %s store, %d records (built in %s, %s on disk)\n", sz.store, sz.n, time.Since(start).Round(time.Second), mib(sample.bytes))
		auditBench(t, bin, env, sample)
	}
}

// sample is what the bench looks up in a generated log.
type sample struct {
	caseID, party string
	bytes         int64
}

// generate makes record i of a log of n: a case of 4 calls every 5 records, its party one of
// n/40 (8 cases each), and every fifth record an anonymous refusal from one of 50 addresses.
func generate(i, n int, at time.Time) audit.Record {
	t := at.Add(time.Duration(i) * 3 * time.Second)
	if i%5 == 4 {
		return audit.Record{Time: t, Method: "GET", Path: "/v2/accounts", Client: fmt.Sprintf("198.51.100.%d", i%50),
			AccountInfoRequestID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", i), Status: 401, Code: "ACC-010", Reason: "token:missing"}
	}
	c := i / 5
	party := strconv.Itoa(900000000 + c%max(1, n/40))
	three := 3
	return audit.Record{Time: t, Service: "konkursbehandling", Operation: "listAccounts", Method: "GET", Path: "/v2/accounts", Client: "10.1.2.3",
		Consumer: "0192:974760673", ClientID: "brreg", TokenJTI: fmt.Sprintf("jti-%d", i), AccountInfoRequestID: fmt.Sprintf("%08x-1111-4000-8000-000000000000", c),
		CorrelationID: fmt.Sprintf("%08x-2222-4000-8000-000000000000", i), LegalMandate: "kkl. §156 (3) og (4), jf. kkfor.§21", PartyID: party,
		FromDate: "2025-06-01", ToDate: "2026-06-01", OnlyPrimaryOwner: "true", NoticeUUID: "370926f8-c4b4-461a-9d89-210fde5b1817", NoticeType: "aapning",
		Kjennelsesdato: "2026-06-01", Status: 200, Accounts: &three, AccountNumbers: []string{"15035218545", "15039279301", "15039285662"},
		Fields: []string{"accounts[].accountNumber", "accounts[].name"}, BodySHA256: strings.Repeat("ab", 32), LatencyMS: 3.2}
}

// fileLog writes n records as the file store writes them: chained, in 64 MiB segments named by
// their first seq. The server indexes them when it opens the log, as after an upgrade.
func fileLog(t *testing.T, dir string, n int) sample {
	require.NoError(t, os.MkdirAll(dir, 0o700))
	at := time.Now().Add(-time.Duration(n) * 3 * time.Second)
	var f *os.File
	var w *bufio.Writer
	var size, total int64
	lastSeq, lastHash := uint64(0), ""
	for i := range n {
		r := generate(i, n, at)
		require.NoError(t, audit.Link(&r, lastSeq, lastHash, nil))
		lastSeq, lastHash = r.Seq, r.Hash
		if f == nil || size+int64(len(r.Raw)+1) > 64<<20 {
			if f != nil {
				require.NoError(t, w.Flush())
				require.NoError(t, f.Close())
			}
			var err error
			f, err = os.Create(filepath.Join(dir, fmt.Sprintf("audit-%020d.jsonl", r.Seq)))
			require.NoError(t, err)
			w, size = bufio.NewWriterSize(f, 1<<20), 0
		}
		_, _ = w.Write(r.Raw)
		_ = w.WriteByte('\n')
		size += int64(len(r.Raw) + 1)
		total += int64(len(r.Raw) + 1)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
	return sample{caseID: generate(n/2, n, at).AccountInfoRequestID, party: generate(n/2, n, at).PartyID, bytes: total}
}

// postgresLog copies n records into a migrated schema, chained as the server chains them.
func postgresLog(t *testing.T, u string, n int) sample {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, u)
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, postgres.Migrate(ctx, pool))
	at := time.Now().Add(-time.Duration(n) * 3 * time.Second)
	lastSeq, lastHash := uint64(0), ""
	i := 0
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"audit_records"},
		[]string{"seq", "recorded_at", "account_info_request_id", "correlation_id", "party_id", "consumer", "status", "record", "hash"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			r := generate(i, n, at)
			i++
			if err := audit.Link(&r, lastSeq, lastHash, nil); err != nil {
				return nil, err
			}
			lastSeq, lastHash = r.Seq, r.Hash
			return []any{int64(r.Seq), r.Time, r.AccountInfoRequestID, r.CorrelationID, r.PartyID, r.Consumer, r.Status, string(r.Raw), r.Hash}, nil
		}))
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ANALYZE audit_records")
	require.NoError(t, err)
	var bytes int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT pg_total_relation_size('audit_records')").Scan(&bytes))
	return sample{caseID: generate(n/2, n, at).AccountInfoRequestID, party: generate(n/2, n, at).PartyID, bytes: bytes}
}

func auditBench(t *testing.T, bin string, env []string, s sample) {
	addr, issuer, admin, kv, consoleAddr := loadAddr(t), loadAddr(t), loadAddr(t), loadAddr(t), loadAddr(t)
	env = append(env, "DSOP_ADDR="+addr, "DSOP_DEV_ISSUER_ADDR="+issuer, "DSOP_ADMIN_ADDR="+admin, "DSOP_MOCK_KONKURSVARSEL_ADDR="+kv,
		"DSOP_CONSOLE_ADDR="+consoleAddr, "DSOP_CONSOLE_READ_TIMEOUT=60s")
	cli := func(name string, args ...string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		start := time.Now()
		err := cmd.Run()
		if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
			require.NoError(t, err, "dsop-bank %s: %s", strings.Join(args, " "), stderr.String())
		}
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
		fmt.Printf("  %-38s %8.0f ms  peak RSS %s\n", name, ms(time.Since(start)), mib(rss))
	}
	// The first open of a log written without index files (as after the upgrade to them) builds
	// and writes them; every later open reads them.
	cli("first open: indexes built", "audit", "query", "--limit", "1")
	cli("audit anomalies (whole log)", "audit", "anomalies")
	cli("audit case", "audit", "case", s.caseID)
	cli("audit query --party (org number), 50", "audit", "query", "--party", s.party, "--limit", "50")
	cli("audit verify", "audit", "verify")

	server := exec.Command(bin, "serve")
	server.Env = env
	var serverLog bytes.Buffer
	server.Stdout, server.Stderr = &serverLog, &serverLog
	start := time.Now()
	require.NoError(t, server.Start())
	defer func() { _ = server.Process.Kill(); _ = server.Wait() }()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + consoleAddr + "/login")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, 10*time.Minute, 200*time.Millisecond, "console not listening: %s", &serverLog)
	fmt.Printf("  %-38s %8.0f ms  RSS %s\n", "server start (indexes opened)", ms(time.Since(start)), mib(rss(t, server.Process.Pid, "VmRSS")))
	b := consoleLogin(t, "http://"+consoleAddr)
	page := func(name, path string) time.Duration {
		start := time.Now()
		resp, err := b.Get("http://" + consoleAddr + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %.300s", path, body)
		if name != "" {
			fmt.Printf("  %-38s %8.1f ms  server RSS %s (peak %s)\n", name, ms(d), mib(rss(t, server.Process.Pid, "VmRSS")), mib(rss(t, server.Process.Pid, "VmHWM")))
		}
		return d
	}
	page("", "/") // warm
	idle := medianOf(func() time.Duration { return page("", "/") }, 5)
	fmt.Printf("  %-38s %8.1f ms  (median of 5)\n", "console Cases page", ms(idle))
	page("console case report", "/cases/"+url.PathEscape(s.caseID))
	page("console anomalies, 90 days (computes)", "/anomalies")
	page("console anomalies, 90 days (next view)", "/anomalies")
	page("console anomalies, 10 years (computes)", "/anomalies?days=3650")
	// A party search: the officer's form, then the page it leads to.
	resp, err := b.Get("http://" + consoleAddr + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	require.NotNil(t, csrf)
	start = time.Now()
	resp, err = b.PostForm("http://"+consoleAddr+"/", url.Values{"csrf": {string(csrf[1])}, "party": {s.party}})
	require.NoError(t, err)
	resp.Body.Close()
	page("", resp.Header.Get("Location"))
	fmt.Printf("  %-38s %8.1f ms\n", "console party search", ms(time.Since(start)))

	// The flood: anonymous requests on 16 connections for 10 s, the console used meanwhile.
	before := logBytes(t, env)
	var sent atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v2/accounts", nil)
				req.Header.Set("AccountInfoRequestID", strings.Repeat("<x>", 3000))
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					sent.Add(1)
				}
			}
		})
	}
	time.Sleep(2 * time.Second)
	flooded := medianOf(func() time.Duration { return page("", "/") }, 5)
	wg.Wait()
	time.Sleep(1500 * time.Millisecond) // the last second's count is written
	after := logBytes(t, env)
	fmt.Printf("  %-38s %8.1f ms  (%.2f× idle), server peak RSS %s\n", "console Cases page during a flood", ms(flooded),
		float64(flooded)/float64(idle), mib(rss(t, server.Process.Pid, "VmHWM")))
	fmt.Printf("  %-38s %8d requests in 10 s, %.1f B of log per request\n", "anonymous flood", sent.Load(), float64(after-before)/float64(max(sent.Load(), 1)))
}

// medianOf runs f n times and returns the median time.
func medianOf(f func() time.Duration, n int) time.Duration {
	ds := make([]float64, n)
	for i := range ds {
		ds[i] = float64(f())
	}
	return time.Duration(median(ds))
}

// logBytes is the size of the audit log: the file store's directory, or the table in PostgreSQL.
func logBytes(t *testing.T, env []string) int64 {
	var state, dbURL string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "DSOP_STATE_DIR="); ok {
			state = v
		}
		if v, ok := strings.CutPrefix(e, "DSOP_DATABASE_URL="); ok {
			dbURL = v
		}
	}
	if dbURL != "" {
		pool, err := pgxpool.New(context.Background(), dbURL)
		require.NoError(t, err)
		defer pool.Close()
		var n int64
		// The records' own bytes: table size moves in 8 kB pages.
		require.NoError(t, pool.QueryRow(context.Background(), "SELECT coalesce(sum(octet_length(record)), 0) FROM audit_records").Scan(&n))
		return n
	}
	var n int64
	segs, _ := filepath.Glob(filepath.Join(state, "audit", "audit-*.jsonl"))
	for _, s := range segs {
		if fi, err := os.Stat(s); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// rss reads a memory figure of a process from /proc (VmRSS now, VmHWM its peak), in bytes.
func rss(t *testing.T, pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// consoleLogin signs in as the development officer, as the console tests do.
func consoleLogin(t *testing.T, consoleURL string) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	b := &http.Client{Jar: jar, Timeout: 2 * time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := b.Get(consoleURL + "/login?return=/")
	require.NoError(t, err)
	resp.Body.Close()
	authorize, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	form := authorize.Query()
	form.Set("user", "dev-officer")
	resp, err = b.PostForm(authorize.Scheme+"://"+authorize.Host+"/authorize", form)
	require.NoError(t, err)
	resp.Body.Close()
	resp, err = b.Get(resp.Header.Get("Location"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "sign-in: the signed-in page")
	return b
}
