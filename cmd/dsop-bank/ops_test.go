package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// jwksServer serves the JWKS of an issuer; it can be down, or slow on each fetch.
type jwksServer struct {
	*httptest.Server
	issuer *devissuer.Issuer
	down   atomic.Bool
	delay  atomic.Int64
}

func newJWKSServer(t *testing.T, baseURL string) *jwksServer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	j := &jwksServer{}
	j.issuer, err = devissuer.New(key, "https://test.maskinporten.no/", baseURL)
	require.NoError(t, err)
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if j.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		time.Sleep(time.Duration(j.delay.Load()))
		_ = json.NewEncoder(w).Encode(j.issuer.JWKS())
	}))
	t.Cleanup(j.Close)
	return j
}

func opsEnv(t *testing.T, j *jwksServer, addr string) map[string]string {
	return map[string]string{
		"DSOP_ADDR": addr, "DSOP_ADMIN_ADDR": freeAddr(t), "DSOP_MOCK_KONKURSVARSEL_ADDR": freeAddr(t), "DSOP_STATE_DIR": t.TempDir(),
		"DSOP_BASE_URL": "http://" + addr + "/v2", "DSOP_MASKINPORTEN_ISSUER": "https://test.maskinporten.no/", "DSOP_MASKINPORTEN_JWKS_URL": j.URL,
	}
}

func TestOps_MetricsAfterAFewRequestsAndReadinessFollowsTheJWKS(t *testing.T) {
	addr := freeAddr(t)
	j := newJWKSServer(t, "http://"+addr+"/v2")
	j.down.Store(true)
	env := opsEnv(t, j, addr)
	startServer(t, env)
	adminURL := "http://" + env["DSOP_ADMIN_ADDR"]

	code, _ := httpGet(t, adminURL+"/livez")
	require.Equal(t, 200, code)
	code, body := httpGet(t, adminURL+"/readyz")
	require.Equal(t, 503, code, "no token keys yet")
	require.Contains(t, body, "jwks")
	j.down.Store(false)
	require.Eventually(t, func() bool { c, _ := httpGet(t, adminURL+"/readyz"); return c == 200 }, 5*time.Second, 200*time.Millisecond)

	tok, err := j.issuer.Mint(devissuer.Options{})
	require.NoError(t, err)
	today := time.Now().In(mustOslo(t)).Format(time.DateOnly)
	for range 3 {
		resp, _ := call(t, addr, tok, "/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate="+today, "910336819", "00000000-0000-4000-8000-000000000001")
		require.Equal(t, 200, resp.StatusCode)
	}
	resp, _ := call(t, addr, "not-a-token", "/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate="+today, "910336819", "00000000-0000-4000-8000-000000000002")
	require.Equal(t, 401, resp.StatusCode)

	code, body = httpGet(t, adminURL+"/metrics")
	require.Equal(t, 200, code)
	for _, series := range []string{
		`dsop_requests_total{code="OK",operation="listAccounts",service="konkursbehandling",status="200"} 3`,
		`dsop_requests_total{code="ACC-010",operation="listAccounts",service="none",status="401"} 1`,
		`dsop_request_duration_seconds_bucket{code="OK",operation="listAccounts"`,
		`dsop_token_failures_total{reason="malformed"} 1`,
		`dsop_audit_write_duration_seconds_count`,
		`dsop_konkursvarsel_sync_age_seconds`,
		`dsop_konkursvarsel_lag_seconds`,
		`dsop_outbox_backlog`,
		`dsop_build_info{`,
		`dsop_konkursvarsel_notices_rejected_total 0`,
		`dsop_jwks_age_seconds`,
		`go_goroutines`,
		`process_cpu_seconds_total`,
	} {
		require.Contains(t, body, series)
	}
	require.NotContains(t, body, tok[len(tok)-16:], "never a token in the metrics")
	code, body = httpGet(t, adminURL+"/openapi.yaml")
	require.Equal(t, 200, code)
	require.Contains(t, body, "'/v2/accounts/{accountReference}/transactions':", "the serving OpenAPI document")
}

// SIGTERM while a request is in flight: the request finishes, its audit record is written, and
// the process exits cleanly.
func TestOps_SIGTERMLetsTheSlowRequestFinishAndRecordsIt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and signals a server process")
	}
	bin := filepath.Join(t.TempDir(), "dsop-bank")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	addr := freeAddr(t)
	j := newJWKSServer(t, "http://"+addr+"/v2")
	env := opsEnv(t, j, addr)
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	// The token keys load slowly, so the first request waits for them.
	j.delay.Store(int64(1500 * time.Millisecond))
	srv := exec.Command(bin, "serve")
	srv.Env = append(os.Environ(), environ...)
	var stderr syncBuf
	srv.Stderr = &stderr
	require.NoError(t, srv.Start())
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "dsop-bank listening") }, 15*time.Second, 20*time.Millisecond)
	tok, err := j.issuer.Mint(devissuer.Options{})
	require.NoError(t, err)
	result := make(chan int, 1)
	start := time.Now()
	go func() {
		resp, _ := call(t, addr, tok, "/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate="+time.Now().In(mustOslo(t)).Format(time.DateOnly), "910336819", "00000000-0000-4000-8000-00000000dead")
		if resp == nil {
			result <- 0
			return
		}
		result <- resp.StatusCode
	}()
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, srv.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 200, <-result, "the in-flight request finished")
	require.Greater(t, time.Since(start), time.Second, "the request was still in flight when SIGTERM came")
	require.NoError(t, srv.Wait(), "clean exit")
	require.Contains(t, stderr.String(), "dsop-bank shutting down")

	var out bytes.Buffer
	q := exec.Command(bin, "audit", "query", "--correlation-id", "00000000-0000-4000-8000-00000000dead", "--format", "json")
	q.Env = srv.Env
	q.Stdout = &out
	require.NoError(t, q.Run())
	var r audit.Record
	require.NoError(t, json.Unmarshal(out.Bytes(), &r))
	require.Equal(t, 200, r.Status)
}

// A serving process collects at GOGC=400 unless GOGC is set, which wins.
func TestTuneGC_DefaultsUnlessGOGCIsSet(t *testing.T) {
	before := debug.SetGCPercent(123)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	for _, tc := range []struct {
		gogc string
		want int // the collector's target afterwards
		ours bool
	}{
		{"", servingGCPercent, true},
		{"100", 123, false},
		{"off", 123, false},
	} {
		debug.SetGCPercent(123)
		pct, ours := tuneGC(func(name string) string {
			if name == "GOGC" {
				return tc.gogc
			}
			return ""
		})
		require.Equal(t, tc.ours, ours, "GOGC=%q", tc.gogc)
		require.Equal(t, tc.want, debug.SetGCPercent(123), "GOGC=%q", tc.gogc)
		if ours {
			require.Equal(t, servingGCPercent, pct)
		}
	}
}
