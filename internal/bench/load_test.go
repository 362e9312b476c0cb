package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// TestLoadReport is the driver of `make load` (DSOP_LOAD=1), the load benchmark of issue #15: a
// server started as its own process on PostgreSQL with 30 accounts × 3 000 transactions from
// `dsop-bank gen`, and the mixed profile of BRREG's client — one Accounts call, then the details
// and the first transactions page of every account of the debtor, all as JWE — sent open-loop
// (requests start on schedule whether or not earlier ones have answered) at each rate for
// DSOP_LOAD_SECONDS (default 20). Per rate it prints p50/p99/max, errors, and the server's CPU
// seconds per request (from /proc, so Linux only). Goals are reported, never asserted.
// DSOP_LOAD_RATES (comma-separated; default 50,150,300) changes the rates.
func TestLoadReport(t *testing.T) {
	if os.Getenv("DSOP_LOAD") != "1" {
		t.Skip("run with make load (DSOP_LOAD=1)")
	}
	seconds := 20
	if v := os.Getenv("DSOP_LOAD_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "DSOP_LOAD_SECONDS")
		seconds = n
	}
	rates := []int{50, 150, 300}
	if v := os.Getenv("DSOP_LOAD_RATES"); v != "" {
		rates = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(t, err, "DSOP_LOAD_RATES")
			rates = append(rates, n)
		}
	}

	dir := t.TempDir()
	// DSOP_LOAD_BINARY runs another build (an earlier revision, for a before/after figure).
	bin := os.Getenv("DSOP_LOAD_BINARY")
	if bin == "" {
		bin = filepath.Join(dir, "dsop-bank")
		build := exec.Command("go", "build", "-o", bin, "../../cmd/dsop-bank")
		build.Stderr = os.Stderr
		require.NoError(t, build.Run(), "go build")
	}

	addr, issuer, admin, kv := loadAddr(t), loadAddr(t), loadAddr(t), loadAddr(t)
	env := append(os.Environ(),
		"DSOP_DATABASE_URL="+pgtest.URL(t), "DSOP_STATE_DIR="+filepath.Join(dir, "state"),
		"DSOP_ADDR="+addr, "DSOP_DEV_ISSUER_ADDR="+issuer, "DSOP_ADMIN_ADDR="+admin, "DSOP_MOCK_KONKURSVARSEL_ADDR="+kv,
		"DSOP_LOG_LEVEL=warn")
	cli := func(args ...string) []byte {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "dsop-bank %s: %s", strings.Join(args, " "), stderr.String())
		return out
	}
	file := filepath.Join(dir, "bank.json")
	require.NoError(t, os.WriteFile(file, cli("gen", "--accounts", "30", "--transactions", "3000"), 0o600))
	cli("migrate")
	cli("import", "--bank-data", file)

	server := exec.Command(bin, "serve")
	server.Env = env
	var serverLog bytes.Buffer
	server.Stdout, server.Stderr = &serverLog, &serverLog
	require.NoError(t, server.Start())
	t.Cleanup(func() { _ = server.Process.Kill(); _ = server.Wait() })
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}, 60*time.Second, 100*time.Millisecond, "server not ready")
	token := strings.TrimSpace(string(cli("dev-token")))

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	base := "http://" + addr + "/v2"
	today := time.Now().Format(time.DateOnly)
	from := time.Now().AddDate(-1, 0, 0).Format(time.DateOnly)
	window := "fromDate=" + from + "&toDate=" + today
	list := base + "/accounts?OnlyPrimaryOwner=true&" + window
	refs := accountRefs(t, client, list, token)
	mix := []string{list}
	for _, r := range refs {
		mix = append(mix, base+"/accounts/"+r+"?"+window, base+"/accounts/"+r+"/transactions?"+window)
	}
	fmt.Printf("mixed profile: 1 Accounts + details and first transactions page of %d accounts (%d requests a round), JWE, %d s per rate\n",
		len(refs), len(mix), seconds)

	// Warm-up: keys, caches, connections.
	_ = loadRun(client, mix, token, 20, 2*time.Second)
	checkpoint(t)
	for _, rate := range rates {
		cpu0 := processCPU(t, server.Process.Pid)
		res := loadRun(client, mix, token, rate, time.Duration(seconds)*time.Second)
		cpu := processCPU(t, server.Process.Pid) - cpu0
		fmt.Printf("%4d req/s: %6d requests, p50 %7.1f ms, p99 %7.1f ms, max %7.1f ms, errors %d; server CPU %.1f ms/request\n",
			rate, res.n, ms(res.p(0.50)), ms(res.p(0.99)), ms(res.p(1)), res.errors, 1000*cpu/float64(max(res.n, 1)))
		if res.errors > 0 {
			fmt.Printf("      first error: %s\n", res.firstError)
		}
	}
	gc := os.Getenv("GOGC")
	if gc == "" {
		gc = "unset: serve's default"
	}
	fmt.Printf("server peak resident memory %d MiB (GOGC %s)\n", peakRSS(t, server.Process.Pid)>>10, gc)
}

// peakRSS is the peak resident set of process pid in KiB (VmHWM of /proc/pid/status).
func peakRSS(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err, "server memory is read from /proc (Linux)")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			require.NoError(t, err)
			return kb
		}
	}
	t.Fatal("no VmHWM in /proc/pid/status")
	return 0
}

// checkpoint flushes what the import left dirty in PostgreSQL before measuring, so that a
// checkpoint triggered by it does not stall the audit commits of the measured run. A role that may
// not (CHECKPOINT needs pg_checkpoint or superuser) is told so and measured anyway.
func checkpoint(tb testing.TB) {
	if _, err := pgtest.Pool(tb).Exec(context.Background(), "CHECKPOINT"); err != nil {
		fmt.Printf("(no CHECKPOINT before measuring: %v)\n", err)
	}
}

type loadResult struct {
	n, errors  int
	latencies  []time.Duration
	firstError string
}

func (r *loadResult) p(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.latencies))+0.5) - 1
	return r.latencies[min(max(i, 0), len(r.latencies)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// loadRun sends the mix round-robin at rate requests a second for d, open-loop, and waits for
// every answer.
func loadRun(client *http.Client, mix []string, token string, rate int, d time.Duration) *loadResult {
	var mu sync.Mutex
	res := &loadResult{}
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	total := int(d / interval)
	for i := range total {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			status, err := loadCall(client, mix[i%len(mix)], token, i)
			lat := time.Since(began)
			mu.Lock()
			defer mu.Unlock()
			res.n++
			res.latencies = append(res.latencies, lat)
			if err != nil || status != http.StatusOK {
				res.errors++
				if res.firstError == "" {
					res.firstError = fmt.Sprintf("status %d, %v", status, err)
				}
			}
		}()
	}
	wg.Wait()
	slices.Sort(res.latencies)
	return res
}

func loadCall(client *http.Client, url, token string, i int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	loadHeaders(req, token, i)
	req.Header.Set("Accept", "application/jose")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

func loadHeaders(req *http.Request, token string, i int) {
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("AccountInfoRequestID", "d4a820ca-ddde-11ed-b5ea-0242ac120002")
	req.Header.Set("CorrelationID", fmt.Sprintf("14fbc062-aacb-4449-93c1-%012d", i))
	req.Header.Set("Legal-Mandate", "kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721")
	if strings.HasSuffix(req.URL.Path, "/v2/accounts") { // step 2a names the party
		req.Header.Set("PartyID", debtor)
	}
}

// accountRefs asks for the debtor's accounts in clear JSON (test mode) to learn their references.
func accountRefs(t *testing.T, client *http.Client, url, token string) []string {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	loadHeaders(req, token, 0)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var body struct {
		Accounts []struct {
			AccountReference string `json:"accountReference"`
		} `json:"accounts"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.NotEmpty(t, body.Accounts)
	var out []string
	for _, a := range body.Accounts {
		out = append(out, a.AccountReference)
	}
	return out
}

// processCPU is the user+system CPU seconds of process pid (fields 14 and 15 of /proc/pid/stat,
// in clock ticks of 1/100 s, the value on every Linux platform Go supports).
func processCPU(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err, "server CPU is read from /proc (Linux)")
	// The command name (field 2) may hold spaces; the fields after it follow its closing ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, err := strconv.ParseFloat(f[11], 64)
	require.NoError(t, err)
	stime, err := strconv.ParseFloat(f[12], 64)
	require.NoError(t, err)
	return (utime + stime) / 100
}

func loadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}
