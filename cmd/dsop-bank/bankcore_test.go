package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Served live from the bank's core (DSOP_BANK_CORE_URL) through `dsop-bank mock-core`: the same
// answers as from a copy; and a core that is down, returns garbage or is too slow makes each
// request a clean 503 ACC-100 with Retry-After, recorded in the audit log with its reason.
func TestBankCore_ServedLiveAndEveryCoreFaultIsACleanRecordedRefusal(t *testing.T) {
	// The bank's side: mock-core on the demo bank, behind a switch that can break it.
	mockAddr := freeAddr(t)
	mctx, stopMock := context.WithCancel(context.Background())
	defer stopMock()
	mockOut := &syncBuf{}
	go func() {
		_ = run(mctx, []string{"mock-core", "--addr", mockAddr}, func(string) string { return "" }, mockOut, &bytes.Buffer{})
	}()
	waitForOutput(t, mockOut, "bank-core mock on", mockOut)
	var mode atomic.Value
	mode.Store("")
	// The core as the connector sees it: mock-core's answers, or the fault of the moment.
	core := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case "down":
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case "garbage":
			_, _ = w.Write([]byte(`{"accounts": "maintenance"}`))
			return
		case "slow":
			time.Sleep(700 * time.Millisecond)
		}
		resp, err := http.Get("http://" + mockAddr + r.URL.RequestURI())
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(b.Bytes())
	}))
	defer core.Close()

	addr := freeAddr(t)
	env := map[string]string{"DSOP_STATE_DIR": t.TempDir(), "DSOP_ADDR": addr, "DSOP_DEV_ISSUER_ADDR": freeAddr(t), "DSOP_MOCK_KONKURSVARSEL_ADDR": freeAddr(t),
		"DSOP_ADMIN_ADDR": freeAddr(t), "DSOP_BANK_CORE_URL": core.URL, "DSOP_BANK_CORE_TIMEOUT": "300ms"}
	srv := startServer(t, env)
	token, list := readyToCall(t, srv)

	resp, body := call(t, addr, token, list, "08086001471", "00000000-0000-4000-8000-000000000001")
	require.Equal(t, 200, resp.StatusCode, string(body))
	var accts struct {
		Accounts []struct{ AccountReference string } `json:"accounts"`
	}
	require.NoError(t, json.Unmarshal(body, &accts))
	require.Len(t, accts.Accounts, 2, "the demo bankrupt's two accounts, read from the core")
	for i, a := range accts.Accounts {
		resp, body := call(t, addr, token, "/v2/accounts/"+a.AccountReference+"/transactions?"+strings.SplitN(list, "&", 2)[1], "", fmt.Sprintf("00000000-0000-4000-8000-00000000020%d", i))
		require.Equal(t, 200, resp.StatusCode, string(body))
	}

	for i, m := range []string{"down", "garbage", "slow"} {
		mode.Store(m)
		corr := fmt.Sprintf("00000000-0000-4000-8000-00000000030%d", i)
		resp, body := call(t, addr, token, list, "08086001471", corr)
		require.Equal(t, 503, resp.StatusCode, "%s: %s", m, body)
		require.NotEmpty(t, resp.Header.Get("Retry-After"), m)
		require.Contains(t, string(body), "ACC-100", m)
		require.Contains(t, string(body), "core system", m)

		var out bytes.Buffer
		require.NoError(t, run(srv.ctx, []string{"audit", "query", "--correlation-id", corr, "--format", "json"}, srv.getenv, &out, srv.stderr))
		require.Contains(t, out.String(), "bank-core:", "the refusal is recorded with its reason (%s)", m)
	}
	mode.Store("")
	resp, _ = call(t, addr, token, list, "08086001471", "00000000-0000-4000-8000-000000000400")
	require.Equal(t, 200, resp.StatusCode, "the core back, answers again")
}
