package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
)

// With the mock running: a debtor with no notice is refused; after an aapning on the mock the next
// request is served (on-demand sync); after a sletting it is refused again; the outbox shows block
// then reopen for that customer's accounts.
func TestKonkursvarsel_LiveNoticesOpenAndCloseAccessAndFillTheOutbox(t *testing.T) {
	addr, devAddr, mockAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	env := map[string]string{"DSOP_ADDR": addr, "DSOP_DEV_ISSUER_ADDR": devAddr, "DSOP_MOCK_KONKURSVARSEL_ADDR": mockAddr, "DSOP_ADMIN_ADDR": freeAddr(t),
		"DSOP_STATE_DIR": t.TempDir(), "DSOP_KONKURSVARSEL_POLL_INTERVAL": "200ms", "DSOP_KONKURSVARSEL_ON_DEMAND_EVERY": "0s"}
	srv := startServer(t, env)
	ctx, getenv, stdout, stderr := srv.ctx, srv.getenv, srv.stdout, srv.stderr
	waitForOutput(t, stdout, "curl -s", stderr)
	var tok bytes.Buffer
	require.NoError(t, run(ctx, []string{"dev-token", "--ttl", "10m"}, getenv, &tok, stderr))
	token := strings.TrimSpace(tok.String())
	today := time.Now().In(mustOslo(t)).Format(time.DateOnly)
	from := time.Now().In(mustOslo(t)).AddDate(0, -6, 0).Format(time.DateOnly)
	status := func() int {
		resp, _ := call(t, addr, token, "/v2/accounts?OnlyPrimaryOwner=true&fromDate="+from+"&toDate="+today, "900308841", "00000000-0000-4000-8000-000000000001")
		return resp.StatusCode
	}
	post := func(body string) {
		resp, err := http.Post("http://"+mockAddr+"/admin/konkursvarsler", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, resp.StatusCode)
		resp.Body.Close()
	}

	require.Equal(t, 403, status(), "no notice: refused")
	post(`{"type":"aapning","debitor":"900308841","kjennelsesdato":"` + today + `"}`)
	require.Equal(t, 200, status(), "served after the on-demand sync")
	post(`{"type":"sletting","debitor":"900308841"}`)
	require.Eventually(t, func() bool { return status() == 403 }, 5*time.Second, 100*time.Millisecond, "refused again after the sletting")

	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"actions", "list", "--format", "json"}, getenv, &out, stderr))
	var acts []konkursvarsel.Action
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var a konkursvarsel.Action
		require.NoError(t, json.Unmarshal([]byte(line), &a))
		if a.Debitor == "900308841" {
			acts = append(acts, a)
		}
	}
	require.Len(t, acts, 2)
	require.Equal(t, konkursvarsel.ActionBlock, acts[0].Type)
	require.Equal(t, konkursvarsel.ActionReopen, acts[1].Type)
	require.Len(t, acts[0].Accounts, 2, "the customer's business account and loan")
	require.Equal(t, acts[0].Accounts, acts[1].Accounts)
	require.Equal(t, today, acts[0].Kjennelsesdato)

	// Acknowledge once; a second ack is refused.
	out.Reset()
	require.NoError(t, run(ctx, []string{"actions", "ack", "--by", "core-banking", acts[0].ID}, getenv, &out, stderr))
	require.ErrorIs(t, run(ctx, []string{"actions", "ack", acts[0].ID}, getenv, &out, stderr), konkursvarsel.ErrAlreadyAcked)
	out.Reset()
	require.NoError(t, run(ctx, []string{"actions", "list"}, getenv, &out, stderr))
	require.NotContains(t, out.String(), acts[0].ID)
	require.Contains(t, out.String(), acts[1].ID)
}
