package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
)

const caseID = "0b7a0e36-6f63-4a4f-9b1b-8f6a5d7c2e11"

// elevenDigitRun is a national identity number or an account number standing alone (not inside a
// hash or an id).
var elevenDigitRun = regexp.MustCompile(`(^|[^0-9A-Za-z])[0-9]{11}([^0-9A-Za-z]|$)`)

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
	srv := startServer(t, env)
	ctx, getenv, stdout, stderr := srv.ctx, srv.getenv, srv.stdout, srv.stderr
	waitForOutput(t, stdout, "curl -s", stderr)

	var tok bytes.Buffer
	require.NoError(t, run(ctx, []string{"dev-token"}, getenv, &tok, stderr))
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
	require.NoError(t, run(ctx, []string{"audit", "case", caseID}, getenv, &out, stderr))
	report := out.String()
	require.Contains(t, report, "Calls: 6")
	require.Contains(t, report, `mandate "kkl. §156 (3) og (4), jf. kkfor.§21"`)
	require.Contains(t, report, "bankruptcy notice aapning 370926f8-c4b4-461a-9d89-210fde5b1817, kjennelsesdato 2018-06-08")
	require.Contains(t, report, "Delivered: 2 accounts listed")
	require.Contains(t, report, "→ 400 ACC-001 window")
	require.Equal(t, 5, strings.Count(report, "delivered:"))
	require.NotContains(t, report, "08086001471", "identity numbers are masked")
	require.Contains(t, report, "080860*****")
	require.NotRegexp(t, elevenDigitRun, report, "no full identity or account number without --reveal (issue #26)")

	out.Reset()
	require.NoError(t, run(ctx, []string{"audit", "verify"}, getenv, &out, stderr))
	require.Contains(t, out.String(), "audit chain OK: 6 records")

	out.Reset()
	require.NoError(t, run(ctx, []string{"audit", "query", "--correlation-id", "00000000-0000-4000-8000-000000000300", "--format", "json"}, getenv, &out, stderr))
	var r audit.Record
	require.NoError(t, json.Unmarshal(out.Bytes(), &r))
	require.Equal(t, "window", r.Reason)

	out.Reset()
	err := run(ctx, []string{"audit", "anomalies"}, getenv, &out, stderr)
	require.ErrorContains(t, err, "1 anomalies found", "findings give a non-zero exit status")
	require.Contains(t, out.String(), "refused outside the bankruptcy window")

	// --reveal must be recorded; the file log has one writer, so it waits for the server to stop.
	require.Error(t, run(ctx, []string{"audit", "query", "--reveal"}, getenv, &out, stderr))
	require.NoError(t, srv.stop())
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"audit", "query", "--reveal", "--as", "Olivia Officer", "--party", "08086001471"}, getenv, &out, stderr))
	require.Contains(t, out.String(), "08086001471")
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"audit", "case", "--reveal", "--as", "Olivia Officer", caseID}, getenv, &out, stderr))
	require.Contains(t, out.String(), "08086001471", "revealed")
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"audit", "case", caseID}, getenv, &out, stderr))
	require.NotRegexp(t, elevenDigitRun, out.String(), "masked again, the reveal record's own detail too")
	require.Contains(t, out.String(), "audit.reveal by Olivia Officer")
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"audit", "query", "--format", "json"}, getenv, &out, stderr))
	require.Contains(t, out.String(), `"operation":"audit.reveal"`)
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"audit", "verify"}, getenv, &out, stderr))
	require.Contains(t, out.String(), "audit chain OK: 8 records")
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

// Anyone can send a request with a victim case's AccountInfoRequestID and control characters in
// path and query; the case report escapes them and marks the call as unauthenticated, so it can
// neither forge a line nor colour the terminal.
func TestAuditCommands_CaseReportCannotBeForged(t *testing.T) {
	env := map[string]string{}
	addr := serveTest(t, env)
	getenv := func(k string) string { return env[k] }
	var tok bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"dev-token"}, getenv, &tok, io.Discard))
	today := time.Now().In(mustOslo(t)).Format(time.DateOnly)
	resp, _ := call(t, addr, strings.TrimSpace(tok.String()), "/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate="+today, "910336819", "00000000-0000-4000-8000-000000000001")
	require.Equal(t, 200, resp.StatusCode)
	forged := "/v2/accounts/x%0A2.%202026-11-23T10:00:00Z%20%20GET%20/v2/accounts/FORGED%20%20%E2%86%92%20200?fromDate=%0A%20%20%20delivered:%201%20accounts,%205000%20transactions%1b[31m&toDate=x"
	resp, _ = call(t, addr, "garbage", forged, "", "00000000-0000-4000-8000-000000000002")
	require.Equal(t, 400, resp.StatusCode, "refused (unknown path) before the token is even read")

	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"audit", "case", caseID}, getenv, &out, io.Discard))
	report := out.String()
	require.NotContains(t, report, "\x1b", "no raw terminal escape")
	for _, line := range strings.Split(report, "\n") {
		require.False(t, strings.HasPrefix(line, "   delivered: 1 accounts, 5000"), "forged line: %q", line)
		require.False(t, strings.HasPrefix(line, "2. 2026-11-23T10:00:00Z  GET /v2/accounts/FORGED"), "forged line: %q", line)
	}
	require.Contains(t, report, "Calls: 1", "a case counts only the calls of authenticated, allowed consumers (issue #26)")
	require.Contains(t, report, "1 UNAUTHENTICATED")
	require.Contains(t, report, "[UNAUTHENTICATED: not a call of the case's consumer]")
	require.Contains(t, report, "GET /v2/accounts/x%0…#", "the path of a refused anonymous call is kept short, cut with a marker (issue #25)")
	require.Contains(t, report, "Delivered: 2 accounts listed, 0 transactions", "only the authenticated call counts")
}

// Expiry never hides tampering: an edited record makes verify fail, and expiry then refuses
// instead of removing it; a retention below the floor is refused before anything is read.
func TestAuditCommands_ExpiryRefusesABrokenChainAndATooShortRetention(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DSOP_STATE_DIR": dir, "DSOP_AUDIT_RETENTION": "1s"}
	getenv := func(k string) string { return env[k] }
	err := run(context.Background(), []string{"audit", "expire"}, getenv, io.Discard, io.Discard)
	require.ErrorContains(t, err, "DSOP_AUDIT_RETENTION")
	require.ErrorContains(t, err, "at least 2160h0m0s (90 days)")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.key"), bytes.Repeat([]byte("s"), 32), 0o600))
	st, err := audit.OpenFileStore(filepath.Join(dir, "audit"), 0)
	require.NoError(t, err)
	old := time.Now().AddDate(0, 0, -200)
	for i := range 6 {
		require.NoError(t, st.Append(context.Background(), &audit.Record{Time: old.Add(time.Duration(i) * 24 * time.Hour), PartyID: "910336819", Status: 200}))
	}
	require.NoError(t, st.Close())
	env["DSOP_AUDIT_RETENTION"] = "100d"
	segs, err := filepath.Glob(filepath.Join(dir, "audit", "audit-*.jsonl"))
	require.NoError(t, err)
	require.NotEmpty(t, segs)
	b, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(segs[0], bytes.Replace(b, []byte(`"party_id":"910336819"`), []byte(`"party_id":"910000000"`), 1), 0o600))

	var out bytes.Buffer
	require.Error(t, run(context.Background(), []string{"audit", "verify"}, getenv, &out, io.Discard))
	err = run(context.Background(), []string{"audit", "expire"}, getenv, &out, io.Discard)
	require.ErrorContains(t, err, "expiry refused")
	require.Error(t, run(context.Background(), []string{"audit", "verify"}, getenv, &out, io.Discard), "still broken: nothing was cut")
}
