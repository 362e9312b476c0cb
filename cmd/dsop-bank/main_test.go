package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"

	"github.com/dsop-bank/dsop-bank/internal/certpub/certpubtest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// waitForOutput waits until a started server writes marker to out, and fails with the server's
// log otherwise. Start-up (keys, demo bank, state replay) takes well under a second alone but
// several seconds under -race while every package's tests share two cores: the limit is generous.
func waitForOutput(t *testing.T, out *syncBuf, marker string, log *syncBuf) {
	t.Helper()
	if !assert.Eventually(t, func() bool { return strings.Contains(out.String(), marker) }, 45*time.Second, 20*time.Millisecond) {
		t.Fatalf("the server did not write %q; its log:\n%s", marker, log.String())
	}
}

// served is `dsop-bank serve` running inside the test, with its output.
type served struct {
	ctx            context.Context // cancelled when the server is stopped
	getenv         func(string) string
	stdout, stderr *syncBuf
	stop           func() error // SIGTERM, then run's result; also done at the test's end
}

// startServer runs `dsop-bank serve` with env and returns once it listens.
func startServer(t *testing.T, env map[string]string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{ctx: ctx, getenv: func(k string) string { return env[k] }, stdout: &syncBuf{}, stderr: &syncBuf{}}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, s.getenv, s.stdout, s.stderr) }()
	var once sync.Once
	var err error
	s.stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = s.stop() })
	waitForOutput(t, s.stderr, "dsop-bank listening", s.stderr)
	return s
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// The embedded default, as `make run` starts it: dev issuer, demo bank, test mode. A token from
// `dsop-bank dev-token` opens steps 2a and 2b over a real listener.
func TestRun_EmbeddedDefaultServesTheDemoEndToEnd(t *testing.T) {
	addr, devAddr := freeAddr(t), freeAddr(t)
	env := map[string]string{"DSOP_ADDR": addr, "DSOP_DEV_ISSUER_ADDR": devAddr, "DSOP_MOCK_KONKURSVARSEL_ADDR": freeAddr(t), "DSOP_ADMIN_ADDR": freeAddr(t), "DSOP_STATE_DIR": t.TempDir()}
	srv := startServer(t, env)
	ctx, getenv, stdout, stderr := srv.ctx, srv.getenv, srv.stdout, srv.stderr
	defer func() { require.NoError(t, srv.stop()) }()
	waitForOutput(t, stdout, "curl -s", stderr)
	require.Contains(t, stdout.String(), "http://"+addr+"/v2/accounts?OnlyPrimaryOwner=true")

	// The printed curl's token opens step 2a; dev-token's opens the rest.
	printed := regexp.MustCompile(`Bearer ([A-Za-z0-9_.-]+)'`).FindStringSubmatch(stdout.String())
	require.Len(t, printed, 2)
	var tok bytes.Buffer
	tok.WriteString(printed[1])
	today := time.Now().In(mustOslo(t)).Format(time.DateOnly)
	get := func(path string, party string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
		req.Header.Set("AccountInfoRequestID", "d4a820ca-ddde-11ed-b5ea-0242ac120002")
		req.Header.Set("CorrelationID", "14fbc062-aacb-4449-93c1-85c352d387a4")
		req.Header.Set("Legal-Mandate", "kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721")
		req.Header.Set("Accept", "application/json")
		if party != "" {
			req.Header.Set("PartyID", party)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		return resp
	}
	resp := get("/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate="+today, "910336819")
	require.Equal(t, 200, resp.StatusCode)
	tok.Reset()
	require.NoError(t, run(ctx, []string{"dev-token"}, getenv, &tok, stderr))
	var accts struct {
		Accounts []struct{ AccountReference string } `json:"accounts"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&accts))
	resp.Body.Close()
	require.Len(t, accts.Accounts, 2)
	for _, suffix := range []string{"", "/transactions"} {
		resp := get(fmt.Sprintf("/v2/accounts/%s%s?fromDate=2017-06-08&toDate=%s", accts.Accounts[0].AccountReference, suffix, today), "")
		require.Equal(t, 200, resp.StatusCode)
		resp.Body.Close()
	}
	// As in production: JWE, opened with the development consumer key that make run names.
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate="+today, nil)
	for k, v := range map[string]string{"Authorization": "Bearer " + strings.TrimSpace(tok.String()), "AccountInfoRequestID": "d4a820ca-ddde-11ed-b5ea-0242ac120002",
		"CorrelationID": "14fbc062-aacb-4449-93c1-85c352d387a5", "Legal-Mandate": "kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721", "PartyID": "910336819", "Accept": "application/jose"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, "application/jose", resp.Header.Get("Content-Type"))
	jweFile := filepath.Join(env["DSOP_STATE_DIR"], "answer.jwe")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, os.WriteFile(jweFile, b, 0o600))
	require.Contains(t, stdout.String(), "decrypt --key "+filepath.Join(env["DSOP_STATE_DIR"], "dev-consumer-key.pem"))
	var plain bytes.Buffer
	require.NoError(t, run(ctx, []string{"decrypt", "--key", filepath.Join(env["DSOP_STATE_DIR"], "dev-consumer-key.pem"), jweFile}, getenv, &plain, stderr))
	require.Contains(t, plain.String(), `"accountReference":"`+accts.Accounts[0].AccountReference+`"`)

	resp = get("/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate="+today, "910425463")
	require.Equal(t, 403, resp.StatusCode, "annulled bankruptcy")
	resp.Body.Close()

	// The development issuer's token endpoint works too.
	r, err := http.Get("http://" + devAddr + "/token")
	require.NoError(t, err)
	require.Equal(t, 200, r.StatusCode)
	r.Body.Close()
	require.NotContains(t, stderr.String(), strings.TrimSpace(tok.String()), "tokens are never logged")
}

func mustOslo(t *testing.T) *time.Location {
	l, err := time.LoadLocation("Europe/Oslo")
	require.NoError(t, err)
	return l
}

func TestRun_ProductionNeedsAConsumerCertificate(t *testing.T) {
	env := productionEnv(t)
	delete(env, "DSOP_CONSUMER_CERT")
	err := run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "DSOP_CERTPUB_URL: required in production")
}

func productionEnv(t *testing.T) map[string]string {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte(testSecretA), 0o600))
	bank := filepath.Join(dir, "bank.json")
	require.NoError(t, os.WriteFile(bank, []byte(`{"servicer":{"organisationNumber":"910336819"},"parties":[],"accounts":[]}`), 0o600))
	ca, err := certpubtest.NewTestCA()
	require.NoError(t, err)
	cert, _, err := ca.Issue("974760673", time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0), x509.KeyUsageKeyEncipherment)
	require.NoError(t, err)
	certFile := filepath.Join(dir, "consumer.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600))
	return map[string]string{
		"DSOP_ENV": "production", "DSOP_ADDR": freeAddr(t), "DSOP_BASE_URL": "https://api.bank.no/dsop/v2", "DSOP_MASKINPORTEN_ISSUER": "https://maskinporten.no/",
		"DSOP_MASKINPORTEN_JWKS_URL": "https://maskinporten.no/jwk", "DSOP_BANK_DATA": bank, "DSOP_SECRET_FILE": secret, "DSOP_STATE_DIR": dir,
		"DSOP_CONSUMER_CERT": certFile, "DSOP_ADMIN_ADDR": freeAddr(t),
	}
}

func TestRun_ProductionStartsWithAConsumerCertificate(t *testing.T) {
	srv := startServer(t, productionEnv(t))
	require.NotContains(t, srv.stdout.String(), "curl", "no development issuer in production")
	require.NoError(t, srv.stop())
}

func TestRun_InvalidConfigurationListsEveryProblem(t *testing.T) {
	env := map[string]string{"DSOP_ENV": "production", "DSOP_PAGE_SIZE": "10", "DSOP_TODATE_POLICY": "whenever", "DSOP_ALLOWED_CONSUMERS": "974760673"}
	err := run(context.Background(), []string{"serve", "--timezone", "Mars/Olympus"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
	require.Error(t, err)
	for _, want := range []string{"DSOP_PAGE_SIZE", "DSOP_TODATE_POLICY", "DSOP_ALLOWED_CONSUMERS", "DSOP_TIMEZONE", "DSOP_MASKINPORTEN_ISSUER", "DSOP_BASE_URL", "DSOP_BANK_DATA", "DSOP_SECRET_FILE"} {
		require.Contains(t, err.Error(), want)
	}
}

// DSOP_KONKURSVARSEL_AUTH=maskinporten needs its issuer, client, scope and certificate, and says
// which are missing; an unknown mode is refused.
func TestRun_KonkursvarselMaskinportenModeNamesWhatIsMissing(t *testing.T) {
	for mode, want := range map[string][]string{
		"maskinporten": {"DSOP_KONKURSVARSEL_MASKINPORTEN", "DSOP_KONKURSVARSEL_CLIENT_ID", "DSOP_KONKURSVARSEL_SCOPE", "DSOP_KONKURSVARSEL_CERT"},
		"password":     {"DSOP_KONKURSVARSEL_AUTH"},
	} {
		env := map[string]string{"DSOP_KONKURSVARSEL_AUTH": mode, "DSOP_STATE_DIR": t.TempDir()}
		err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
		require.Error(t, err, mode)
		for _, w := range want {
			require.Contains(t, err.Error(), w, mode)
		}
	}
}

func TestRun_CheckBankData(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"servicer":{"organisationNumber":"1"},"parties":[{"id":"x"}],"accounts":[]}`), 0o600))
	var out bytes.Buffer
	err := run(context.Background(), []string{"check-bank-data", bad}, os.Getenv, &out, &bytes.Buffer{})
	require.ErrorContains(t, err, "2 problems")
	require.Contains(t, out.String(), bad+":1:57: /parties/0/id:")
	require.Contains(t, out.String(), bad+":1:35: /servicer/organisationNumber:")
}

func TestRun_DevTokenBreaksClaimsOnRequest(t *testing.T) {
	env := map[string]string{"DSOP_STATE_DIR": t.TempDir(), "DSOP_MOCK_KONKURSVARSEL_ADDR": freeAddr(t)}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"dev-token", "--scope", "bits:kundeforhold", "--alg", "none"}, func(k string) string { return env[k] }, &out, &bytes.Buffer{}))
	parts := strings.Split(strings.TrimSpace(out.String()), ".")
	require.Len(t, parts, 3)
	require.Empty(t, parts[2], "alg none has no signature")
}

// Two test-mode servers on one machine: the helpers (development issuer, mock, admin) of the
// second move to free ports, and dev-token's tokens still work.
func TestRun_TestModeHelpersMoveWhenTheirPortsAreTaken(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	taken := busy.Addr().String()
	addr := freeAddr(t)
	env := map[string]string{"DSOP_ADDR": addr, "DSOP_DEV_ISSUER_ADDR": taken, "DSOP_MOCK_KONKURSVARSEL_ADDR": taken, "DSOP_ADMIN_ADDR": taken, "DSOP_STATE_DIR": t.TempDir()}
	srv := startServer(t, env)
	defer func() { require.NoError(t, srv.stop()) }()
	waitForOutput(t, srv.stdout, "curl -s", srv.stderr)
	require.Equal(t, 3, strings.Count(srv.stderr.String(), "listening on a free port instead"))
	var tok bytes.Buffer
	require.NoError(t, run(srv.ctx, []string{"dev-token"}, srv.getenv, &tok, srv.stderr))
	today := time.Now().In(mustOslo(t)).Format(time.DateOnly)
	resp, body := call(t, addr, strings.TrimSpace(tok.String()), "/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate="+today, "910336819", "00000000-0000-4000-8000-000000000001")
	require.Equal(t, 200, resp.StatusCode, string(body))
}

// A secret that other users of the host can read is refused in production, with the fix named.
func TestRun_ProductionRefusesAWorldReadableSecret(t *testing.T) {
	env := productionEnv(t)
	require.NoError(t, os.Chmod(env["DSOP_SECRET_FILE"], 0o644))
	err := run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "DSOP_SECRET_FILE")
	require.ErrorContains(t, err, "readable by other users (mode 0644)")
	require.ErrorContains(t, err, "chmod 600")
	key := filepath.Join(t.TempDir(), "enterprise.key")
	require.NoError(t, os.WriteFile(key, []byte("k"), 0o604))
	require.NoError(t, os.Chmod(env["DSOP_SECRET_FILE"], 0o600))
	env["DSOP_KONKURSVARSEL_CERT"], env["DSOP_KONKURSVARSEL_KEY"] = env["DSOP_CONSUMER_CERT"], key
	err = run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "DSOP_KONKURSVARSEL_KEY")
	require.NotContains(t, err.Error(), "DSOP_SECRET_FILE", "the 0600 secret passes: the refusal above was its mode's")
}

// dev-token --kid puts that kid in the token header, so the unknown-kid path can be tried from
// the command line.
func TestRun_DevTokenKidOverride(t *testing.T) {
	env := map[string]string{"DSOP_STATE_DIR": t.TempDir(), "DSOP_MOCK_KONKURSVARSEL_ADDR": freeAddr(t)}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"dev-token", "--kid", "rotated-away"}, func(k string) string { return env[k] }, &out, &bytes.Buffer{}))
	hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(strings.TrimSpace(out.String()), ".")[0])
	require.NoError(t, err)
	var h map[string]any
	require.NoError(t, json.Unmarshal(hdr, &h))
	require.Equal(t, "rotated-away", h["kid"])
}

// Ten planted mistakes, each on its own line: every one is reported with its line, column and
// JSON path — decode errors, enums, types, unknown fields, dates and text no database stores.
func TestCheckBankData_ReportsEveryPlantedMistakeWithItsLocation(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bank.json")
	lines := []string{
		`{`,
		`  "servicer": {"organisationNumber": "12345"},`,                               // 2: pattern
		`  "parties": [{"id": "91033681"}, {"id": "910336819", "name": "Fjelltopp"}],`, // 3: pattern
		`  "accounts": [{`,                    // 4
		`    "accountNumber": "15039285662",`, // 5
		`    "type": "weird",`,                // 6: enum
		`    "status": "open",`,               // 7: enum
		`    "currency": "nok",`,              // 8: pattern
		`    "startDate": "2024-13-40",`,      // 9: date
		`    "colour": "blue",`,               // 10: unknown field
		`    "roles": [{"partyId": "910336819", "role": "primaryOwner", "startDate": "2020-01-01"}],`,
		`    "balances": {},`,
		`    "transactions": [`,
		`      {"transactionIdentifier": "t1", "status": "booked", "bookingDate": "2024-01-01T10:00:00Z",`,
		`       "creditDebitIndicator": "plus",`, // 15: enum
		`       "amount": "12.00"},`,             // 16: type
		`      {"transactionIdentifier": "t\u00002", "status": "booked", "bookingDate": "2024-01-02T10:00:00Z", "creditDebitIndicator": "debit", "amount": 1},`, // 17: NUL
		`      {"transactionIdentifier": "t3", "status": "settled", "bookingDate": "2024-01-03T10:00:00Z", "creditDebitIndicator": "debit", "amount": 1},`,      // 18: enum
		`      {"transactionIdentifier": "t4", "status": "booked", "bookingDate": "yesterday", "creditDebitIndicator": "debit", "amount": 1}`,                   // 19: date-time
		`    ]`,
		`  }]`,
		`}`,
	}
	require.NoError(t, os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	var out bytes.Buffer
	err := run(context.Background(), []string{"check-bank-data", file}, os.Getenv, &out, &bytes.Buffer{})
	require.Error(t, err, "exit status 1")
	for _, want := range []string{
		":2:", ":3:", ":6:", ":7:", ":8:", ":9:", ":10:", ":15:", ":16:", ":17:", ":18:", ":19:",
	} {
		require.Contains(t, out.String(), file+want, "a problem reported on line %s\n%s", want, out.String())
	}
	for _, path := range []string{"/servicer/organisationNumber", "/parties/0/id", "/accounts/0/type", "/accounts/0/status", "/accounts/0/currency",
		"/accounts/0/startDate", "/accounts/0/transactions/0/creditDebitIndicator", "/accounts/0/transactions/0/amount",
		"/accounts/0/transactions/1/transactionIdentifier", "/accounts/0/transactions/2/status"} {
		require.Contains(t, out.String(), path, out.String())
	}
	// import refuses the same file, with the same locations, in the one pass that would load it.
	out.Reset()
	var errOut bytes.Buffer
	url := pgtest.URL(t)
	err = run(context.Background(), []string{"import", "--bank-data", file}, func(k string) string {
		return map[string]string{"DSOP_DATABASE_URL": url, "DSOP_STATE_DIR": t.TempDir()}[k]
	}, &out, &errOut)
	require.ErrorContains(t, err, "nothing was imported")
	for _, want := range []string{":2:", ":6:", ":10:", ":19:"} {
		require.Contains(t, errOut.String(), file+want)
	}
}

// No console in production without the bank's sign-on; with an issuer, the console starts (its
// identity provider is reached only at the first sign-in).
func TestRun_ProductionConsoleNeedsOIDC(t *testing.T) {
	env := productionEnv(t)
	env["DSOP_CONSOLE_ADDR"] = freeAddr(t)
	err := run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "DSOP_CONSOLE_OIDC_ISSUER: required in production")

	env["DSOP_CONSOLE_OIDC_ISSUER"] = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0"
	err = run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "DSOP_CONSOLE_OIDC_CLIENT_ID: required")

	env["DSOP_CONSOLE_OIDC_CLIENT_ID"] = "11111111-1111-1111-1111-111111111111"
	// No console on plain http in production (issue #26): its session cookie would not be Secure.
	err = run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "DSOP_CONSOLE_URL: required in production")
	env["DSOP_CONSOLE_URL"] = "http://console.bank.internal"
	err = run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "DSOP_CONSOLE_URL: must be an absolute https URL")
	env["DSOP_CONSOLE_URL"] = "https://console.bank.internal"
	srv := startServer(t, env)
	require.Contains(t, srv.stderr.String(), "compliance console listening")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get("http://" + env["DSOP_CONSOLE_ADDR"] + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/login?return=%2F", resp.Header.Get("Location"))
	require.NoError(t, srv.stop())
}
