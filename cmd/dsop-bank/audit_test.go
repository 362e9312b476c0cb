package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
)

const caseID = "0b7a0e36-6f63-4a4f-9b1b-8f6a5d7c2e11"

// call makes one API request against a running server.
func call(t *testing.T, addr, token, path, party, correlation string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("AccountInfoRequestID", caseID)
	req.Header.Set("CorrelationID", correlation)
	req.Header.Set("Legal-Mandate", "kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721")
	req.Header.Set("Accept", "application/json")
	if party != "" {
		req.Header.Set("PartyID", party)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.Bytes()
}

// The case report of a 2a + 2b sequence lists every call with its legal basis and what it delivered.
func TestAuditCommands_CaseReportVerifyQueryAndReveal(t *testing.T) {
	dir := t.TempDir()
	addr, devAddr := freeAddr(t), freeAddr(t)
	env := map[string]string{"DSOP_ADDR": addr, "DSOP_DEV_ISSUER_ADDR": devAddr, "DSOP_MOCK_KONKURSVARSEL_ADDR": freeAddr(t), "DSOP_ADMIN_ADDR": freeAddr(t), "DSOP_STATE_DIR": dir}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuf
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, getenv, &stdout, &stderr) }()
	require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "curl -s") }, 10*time.Second, 20*time.Millisecond, stderr.String())

	var tok bytes.Buffer
	require.NoError(t, run(ctx, []string{"dev-token"}, getenv, &tok, &stderr))
	token := strings.TrimSpace(tok.String())
	today := time.Now().In(mustOslo(t)).Format(time.DateOnly)
	resp, body := call(t, addr, token, "/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate="+today, "08086001471", "00000000-0000-4000-8000-000000000001")
	require.Equal(t, 200, resp.StatusCode)
	var list struct {
		Accounts []struct{ AccountReference string } `json:"accounts"`
	}
	require.NoError(t, json.Unmarshal(body, &list))
	for i, a := range list.Accounts {
		resp, _ := call(t, addr, token, fmt.Sprintf("/v2/accounts/%s?fromDate=2017-06-08&toDate=%s", a.AccountReference, today), "", fmt.Sprintf("00000000-0000-4000-8000-00000000010%d", i))
		require.Equal(t, 200, resp.StatusCode)
		resp, _ = call(t, addr, token, fmt.Sprintf("/v2/accounts/%s/transactions?fromDate=2017-06-08&toDate=%s", a.AccountReference, today), "", fmt.Sprintf("00000000-0000-4000-8000-00000000020%d", i))
		require.Equal(t, 200, resp.StatusCode)
	}
	resp, _ = call(t, addr, token, "/v2/accounts?OnlyPrimaryOwner=true&fromDate=2010-01-01&toDate="+today, "08086001471", "00000000-0000-4000-8000-000000000300")
	require.Equal(t, 400, resp.StatusCode)

	// While the server runs, the tools read the log.
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"audit", "case", caseID}, getenv, &out, &stderr))
	report := out.String()
	require.Contains(t, report, "Calls: 6")
	require.Contains(t, report, `mandate "kkl. §156 (3) og (4), jf. kkfor.§21"`)
	require.Contains(t, report, "bankruptcy notice 370926f8-c4b4-461a-9d89-210fde5b1817, kjennelsesdato 2018-06-08")
	require.Contains(t, report, "Delivered: 2 accounts listed")
	require.Contains(t, report, "→ 400 ACC-001 window")
	require.Equal(t, 5, strings.Count(report, "delivered:"))
	require.NotContains(t, report, "08086001471", "identity numbers are masked")
	require.Contains(t, report, "080860*****")

	out.Reset()
	require.NoError(t, run(ctx, []string{"audit", "verify"}, getenv, &out, &stderr))
	require.Contains(t, out.String(), "audit chain OK: 6 records")

	out.Reset()
	require.NoError(t, run(ctx, []string{"audit", "query", "--correlation-id", "00000000-0000-4000-8000-000000000300", "--format", "json"}, getenv, &out, &stderr))
	var r audit.Record
	require.NoError(t, json.Unmarshal(out.Bytes(), &r))
	require.Equal(t, "window", r.Reason)

	out.Reset()
	require.NoError(t, run(ctx, []string{"audit", "anomalies"}, getenv, &out, &stderr))
	require.Contains(t, out.String(), "refused outside the bankruptcy window")

	// --reveal must be recorded; the file log has one writer, so it waits for the server to stop.
	require.Error(t, run(ctx, []string{"audit", "query", "--reveal"}, getenv, &out, &stderr))
	cancel()
	require.NoError(t, <-done)
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"audit", "query", "--reveal", "--party", "08086001471"}, getenv, &out, &stderr))
	require.Contains(t, out.String(), "08086001471")
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"audit", "query", "--format", "json"}, getenv, &out, &stderr))
	require.Contains(t, out.String(), `"operation":"audit.reveal"`)
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"audit", "verify"}, getenv, &out, &stderr))
	require.Contains(t, out.String(), "audit chain OK: 7 records")
}

// A server killed with SIGKILL while answering a stream of requests: after a restart the chain
// verifies, and every response a client received has its record.
func TestAuditCrash_SIGKILLDuringRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	bin := filepath.Join(t.TempDir(), "dsop-bank")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	dir := t.TempDir()
	addr, devAddr := freeAddr(t), freeAddr(t)
	env := append(os.Environ(), "DSOP_ADDR="+addr, "DSOP_DEV_ISSUER_ADDR="+devAddr, "DSOP_MOCK_KONKURSVARSEL_ADDR="+freeAddr(t), "DSOP_ADMIN_ADDR="+freeAddr(t), "DSOP_STATE_DIR="+dir, "DSOP_LOG_LEVEL=error")
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve")
		cmd.Env = env
		var out syncBuf
		cmd.Stdout = &out
		require.NoError(t, cmd.Start())
		require.Eventually(t, func() bool { return strings.Contains(out.String(), "curl -s") }, 15*time.Second, 20*time.Millisecond)
		return cmd
	}
	srv := start()
	cmd := exec.Command(bin, "dev-token", "--ttl", "10m") // same environment as the server
	cmd.Env = env
	tokOut, err := cmd.Output()
	require.NoError(t, err)
	token := strings.TrimSpace(string(tokOut))

	var mu sync.Mutex
	answered := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				corr := fmt.Sprintf("00000000-0000-4000-8%03d-%012d", w, i)
				resp, _ := call(t, addr, token, "/v2/accounts?OnlyPrimaryOwner=true&fromDate=2018-01-01&toDate="+time.Now().In(mustOslo(t)).Format(time.DateOnly), "910336819", corr)
				if resp == nil {
					return // the server is gone
				}
				mu.Lock()
				answered[corr] = resp.StatusCode
				mu.Unlock()
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	require.NoError(t, srv.Process.Signal(syscall.SIGKILL))
	_ = srv.Wait()
	close(stop)
	wg.Wait()
	require.NotEmpty(t, answered)

	srv = start() // recovers the log (cuts a torn record) and goes on
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	verify := exec.Command(bin, "audit", "verify")
	verify.Env = env
	out, err := verify.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "audit chain OK")

	query := exec.Command(bin, "audit", "query", "--format", "json")
	query.Env = env
	out, err = query.Output()
	require.NoError(t, err)
	recorded := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r audit.Record
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		recorded[r.CorrelationID] = true
	}
	for corr, status := range answered {
		require.True(t, recorded[corr], "response %d for %s was received but has no audit record", status, corr)
	}
	t.Logf("%d responses received before the kill, %d records", len(answered), len(recorded))
}
