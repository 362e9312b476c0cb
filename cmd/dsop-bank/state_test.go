package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// populatedState runs the embedded default once, makes a few calls, stops it, and returns its
// environment: notices, actions and audit records on disk.
func populatedState(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{"DSOP_ADDR": freeAddr(t), "DSOP_DEV_ISSUER_ADDR": freeAddr(t), "DSOP_MOCK_KONKURSVARSEL_ADDR": freeAddr(t),
		"DSOP_ADMIN_ADDR": freeAddr(t), "DSOP_STATE_DIR": t.TempDir()}
	srv := startServer(t, env)
	var tok bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"dev-token"}, func(k string) string { return env[k] }, &tok, io.Discard))
	today := time.Now().In(mustOslo(t)).Format(time.DateOnly)
	for i := range 3 {
		resp, _ := call(t, env["DSOP_ADDR"], strings.TrimSpace(tok.String()), "/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate="+today, "910336819", "00000000-0000-4000-8000-00000000000"+string(rune('1'+i)))
		require.Equal(t, 200, resp.StatusCode)
	}
	_ = srv.stop()
	return env
}

func damageLine(t *testing.T, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(b), "\n")
	require.Greater(t, len(lines), n, "%s has fewer than %d lines", path, n+1)
	lines[n-1] = `{"this line": "was damaged` + "\n"
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600))
}

func serveOnce(env map[string]string) (stderr string, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuf
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, &out, &errOut) }()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case err := <-done:
			cancel()
			return errOut.String(), err
		case <-deadline:
			cancel()
			return errOut.String(), <-done
		case <-time.After(20 * time.Millisecond):
			if strings.Contains(errOut.String(), "dsop-bank listening") {
				cancel()
				return errOut.String(), <-done
			}
		}
	}
}

// A damaged record in the middle of a state file stops start-up with the file, the line and how
// to repair it — never a silent cut that would drop every later notice (an annulled bankruptcy
// served again) or a block instruction.
func TestState_DamagedMiddleLineStopsStartUp(t *testing.T) {
	for _, c := range []struct {
		name, file, repair string
	}{
		{"notices", filepath.Join("konkursvarsel", "notices.jsonl"), "DSOP_KONKURSVARSEL_SINCE"},
		{"actions", filepath.Join("actions", "actions.jsonl"), "restore the file from backup"},
		{"audit", filepath.Join("audit", "audit-00000000000000000001.jsonl"), "dsop-bank audit verify"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := populatedState(t)
			path := filepath.Join(env["DSOP_STATE_DIR"], c.file)
			before, err := os.ReadFile(path)
			require.NoError(t, err)
			_, err = serveOnce(env)
			require.NoError(t, err, "the undamaged state starts: the refusal below is the damage's")
			damageLine(t, path, 2)
			damaged, _ := os.ReadFile(path)
			_, err = serveOnce(env)
			require.Error(t, err)
			require.Contains(t, err.Error(), path+": line 2")
			require.Contains(t, err.Error(), c.repair)
			after, _ := os.ReadFile(path)
			require.Equal(t, damaged, after, "nothing was cut")
			require.Less(t, len(after), len(before)+len(`{"this line": "was damaged`)+1)
		})
	}
	t.Run("actions list names the damaged line too", func(t *testing.T) {
		env := populatedState(t)
		damageLine(t, filepath.Join(env["DSOP_STATE_DIR"], "actions", "actions.jsonl"), 2)
		err := run(context.Background(), []string{"actions", "list", "--all"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
		require.ErrorContains(t, err, "actions.jsonl: line 2")
	})
}

// A torn last record after a crash is cut, and the cut is logged with its byte offset.
func TestState_TornLastRecordIsCutAndLogged(t *testing.T) {
	env := populatedState(t)
	path := filepath.Join(env["DSOP_STATE_DIR"], "konkursvarsel", "notices.jsonl")
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString(`{"uuid":"7a0f3f5e-5f51-4c43-9d7c-0d7e0b3b0a05","ty`)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	stderr, err := serveOnce(env)
	require.NoError(t, err)
	require.Contains(t, stderr, "torn last record cut after a crash")
	require.Contains(t, stderr, `"offset":`+strconv.Itoa(len(good)))
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, len(good), len(after))
}
