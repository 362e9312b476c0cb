package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/certpub/certpubtest"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// Two server processes on one database: both answer; only one polls; when it is killed the other
// takes over polling within the lease check.
func TestReplicas_BothAnswerOnePollsTakeOverAfterKill(t *testing.T) {
	dbURL := pgtest.URL(t)
	bin := filepath.Join(t.TempDir(), "dsop-bank")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	shared := t.TempDir()
	secret := filepath.Join(shared, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef"), 0o600))
	bank := filepath.Join(shared, "bank.json")
	b, err := io.ReadAll(demo.BankData())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bank, b, 0o600))
	ca, err := certpubtest.NewTestCA()
	require.NoError(t, err)
	cert, _, err := ca.Issue("974760673", time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0), x509.KeyUsageKeyEncipherment)
	require.NoError(t, err)
	certFile := filepath.Join(shared, "consumer.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600))
	list, _, err := konkursvarsel.ParseList(demo.Konkursvarsler())
	require.NoError(t, err)
	mock := httptest.NewServer(konkursvarsel.NewMock(list).Handler())
	defer mock.Close()
	j := newJWKSServer(t, "http://replicas.test/v2")

	common := append(os.Environ(), "DSOP_DATABASE_URL="+dbURL, "DSOP_SECRET_FILE="+secret, "DSOP_CONSUMER_CERT="+certFile,
		"DSOP_BASE_URL=http://replicas.test/v2", "DSOP_MASKINPORTEN_ISSUER=https://test.maskinporten.no/", "DSOP_MASKINPORTEN_JWKS_URL="+j.URL,
		"DSOP_KONKURSVARSEL_URL="+mock.URL, "DSOP_KONKURSVARSEL_SINCE=all", "DSOP_KONKURSVARSEL_POLL_INTERVAL=200ms", "DSOP_LEADER_CHECK=200ms", "DSOP_LOG_LEVEL=info")
	imp := exec.Command(bin, "import", "--bank-data", bank)
	imp.Env = append(common, "DSOP_STATE_DIR="+t.TempDir())
	out, err := imp.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "imported")

	type replica struct {
		cmd    *exec.Cmd
		addr   string
		stderr *syncBuf
	}
	start := func() *replica {
		r := &replica{addr: freeAddr(t), stderr: &syncBuf{}}
		r.cmd = exec.Command(bin, "serve")
		r.cmd.Env = append(common, "DSOP_ADDR="+r.addr, "DSOP_ADMIN_ADDR="+freeAddr(t), "DSOP_STATE_DIR="+t.TempDir())
		r.cmd.Stderr = r.stderr
		require.NoError(t, r.cmd.Start())
		t.Cleanup(func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() })
		require.Eventually(t, func() bool { return strings.Contains(r.stderr.String(), "dsop-bank listening") }, 15*time.Second, 20*time.Millisecond, r.stderr.String())
		return r
	}
	a, b2 := start(), start()
	leads := func(r *replica) bool { return strings.Contains(r.stderr.String(), "this replica now leads") }
	require.Eventually(t, func() bool { return leads(a) || leads(b2) }, 5*time.Second, 50*time.Millisecond)
	time.Sleep(600 * time.Millisecond)
	require.False(t, leads(a) && leads(b2), "only one replica polls")
	leader, follower := a, b2
	if leads(b2) {
		leader, follower = b2, a
	}
	require.NotContains(t, follower.stderr.String(), `"msg":"konkursvarsel sync"`, "the follower never polled")

	tok, err := j.issuer.Mint(devissuer.Options{})
	require.NoError(t, err)
	today := time.Now().In(mustOslo(t)).Format(time.DateOnly)
	for i, r := range []*replica{a, b2} {
		resp, body := call(t, r.addr, tok, "/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate="+today, "910336819", fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i))
		require.Equal(t, 200, resp.StatusCode, string(body))
		// Step 2b on PostgreSQL reads the account with its owners' notices in one statement.
		var list struct {
			Accounts []struct{ AccountReference string } `json:"accounts"`
		}
		require.NoError(t, json.Unmarshal(body, &list))
		require.NotEmpty(t, list.Accounts)
		for _, acct := range list.Accounts {
			resp, body := call(t, r.addr, tok, "/v2/accounts/"+acct.AccountReference+"/transactions?fromDate=2017-06-08&toDate="+today, "", fmt.Sprintf("00000000-0000-4000-9000-00000000000%d", i))
			require.Equal(t, 200, resp.StatusCode, string(body))
		}
	}

	require.NoError(t, leader.cmd.Process.Signal(syscall.SIGKILL))
	_ = leader.cmd.Wait()
	killed := time.Now()
	require.Eventually(t, func() bool { return leads(follower) }, 5*time.Second, 50*time.Millisecond, "the other replica takes over polling")
	t.Logf("take-over after %s", time.Since(killed).Round(10*time.Millisecond))
	require.Eventually(t, func() bool { return strings.Contains(follower.stderr.String(), `"msg":"konkursvarsel sync"`) }, 5*time.Second, 50*time.Millisecond)
}
