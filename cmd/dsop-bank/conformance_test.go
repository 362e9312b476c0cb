package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/certpub/certpubtest"
	"github.com/dsop-bank/dsop-bank/internal/conformance"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
)

// serveTest runs `dsop-bank serve` with env (free ports and a fresh state directory unless env
// names them) until the test ends, and returns its address.
func serveTest(t *testing.T, env map[string]string) string {
	t.Helper()
	for _, k := range []string{"DSOP_ADDR", "DSOP_DEV_ISSUER_ADDR", "DSOP_MOCK_KONKURSVARSEL_ADDR", "DSOP_ADMIN_ADDR"} {
		if env[k] == "" {
			env[k] = freeAddr(t)
		}
	}
	if env["DSOP_STATE_DIR"] == "" {
		env["DSOP_STATE_DIR"] = t.TempDir()
	}
	startServer(t, env)
	return env["DSOP_ADDR"]
}

type kitReport struct {
	Passed, Failed, Skipped int
	Cases                   []struct{ ID, Status, Evidence string }
}

// runKit runs `dsop-bank conformance` with env and the flags, and returns its JSON report.
func runKit(t *testing.T, env map[string]string, args ...string) (kitReport, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"conformance", "--format", "json"}, args...), func(k string) string { return env[k] }, &out, &errOut)
	var rep kitReport
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), "stdout: %s\nstderr: %s", out.String(), errOut.String())
	return rep, err
}

func failedCases(rep kitReport) []string {
	var out []string
	for _, c := range rep.Cases {
		if c.Status == "FAIL" {
			out = append(out, c.ID)
		}
	}
	sort.Strings(out)
	return out
}

// Zero configuration against `make run`'s server: the same DSOP_* environment and --base-url.
// Every case passes, none is skipped, and the JUnit file says so.
func TestConformance_OurServerInTestModePassesEveryCase(t *testing.T) {
	env := map[string]string{}
	addr := serveTest(t, env)
	junit := filepath.Join(t.TempDir(), "conformance.xml")
	rep, err := runKit(t, env, "--base-url", "http://"+addr+"/v2", "--junit", junit)
	require.NoError(t, err, "%+v", rep)
	require.Empty(t, failedCases(rep), "%+v", rep.Cases)
	require.Zero(t, rep.Skipped, "%+v", rep.Cases)
	require.Equal(t, len(conformance.Cases()), rep.Passed)
	for _, c := range rep.Cases {
		if c.ID == "FLOW-2B-PAGING" {
			require.Contains(t, c.Evidence, "2 pages", "the demo bank has an account of two pages, so next is followed")
		}
	}
	x, err := os.ReadFile(junit)
	require.NoError(t, err)
	require.Contains(t, string(x), `failures="0"`)
	require.Contains(t, string(x), `<testcase name="REF-CARDS-ROLES`)
}

// With Oppgjør etter dødsfall enabled beside Konkursbehandling, the kit plays Digdir
// (--service oed): its consumer, mandate and window come from the service value, the demo bank's
// deceased customer is served, a living one refused — every case passes, and the Konkursbehandling
// run against the same server still does.
func TestConformance_OurServerPassesEveryCaseOfOED(t *testing.T) {
	env := map[string]string{"DSOP_SERVICES": "konkursbehandling,oed"}
	addr := serveTest(t, env)
	rep, err := runKit(t, env, "--base-url", "http://"+addr+"/v2", "--service", "oed")
	require.NoError(t, err, "%+v", rep)
	require.Empty(t, failedCases(rep), "%+v", rep.Cases)
	require.Equal(t, len(conformance.CasesFor(dsopservice.OED())), rep.Passed+rep.Skipped)
	require.Zero(t, rep.Skipped, "%+v", rep.Cases)
	rep, err = runKit(t, env, "--base-url", "http://"+addr+"/v2")
	require.NoError(t, err, "%+v", rep)
	require.Empty(t, failedCases(rep), "%+v", rep.Cases)
}

// Production mode: Maskinporten's JWKS behind a private CA, a test consumer certificate, bank data
// and notices from files. Every answer is JWE, and every case passes.
func TestConformance_OurServerInProductionPassesEveryCase(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	const registered = "https://api.bank.no/dsop/v2"
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	var issuer *devissuer.Issuer
	jwks := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { issuer.Handler().ServeHTTP(w, r) }))
	defer jwks.Close()
	issuer, err = devissuer.New(key, jwks.URL+"/", registered)
	require.NoError(t, err)
	ca, err := certpubtest.NewTestCA()
	require.NoError(t, err)
	cert, consumerKey, err := ca.Issue("974760673", time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0), x509.KeyUsageKeyEncipherment)
	require.NoError(t, err)
	bank, err := io.ReadAll(demo.BankData())
	require.NoError(t, err)
	notices, err := io.ReadAll(demo.Konkursvarsler())
	require.NoError(t, err)
	env := map[string]string{
		"DSOP_ENV": "production", "DSOP_BASE_URL": registered,
		"DSOP_MASKINPORTEN_ISSUER": jwks.URL + "/", "DSOP_MASKINPORTEN_JWKS_URL": jwks.URL + "/jwks.json",
		"DSOP_MASKINPORTEN_CA":    write("jwks-ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: jwks.Certificate().Raw})),
		"DSOP_CONSUMER_CERT":      write("consumer.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		"DSOP_BANK_DATA":          write("bank.json", bank),
		"DSOP_KONKURSVARSEL_SEED": write("notices.json", notices),
		"DSOP_SECRET_FILE":        write("secret", []byte(testSecretA)),
	}
	addr := serveTest(t, env)
	open, refused, err := conformance.DefaultParties()
	require.NoError(t, err)
	rep, err := conformance.Run(context.Background(), conformance.Options{
		// The kit calls the server directly; its links are relative to whatever base URL it has.
		BaseURL: "http://" + addr + "/v2/", Tokens: conformance.IssuerTokens{Issuer: issuer}, Key: consumerKey,
		Parties: open, Refused: refused,
	})
	require.NoError(t, err)
	for _, r := range rep.Results {
		require.Equal(t, conformance.Pass, r.Status, "%s: %s", r.Case.ID, r.Evidence)
	}
}

// brokenBank is a test double: our test-mode server behind a proxy that breaks one thing.
type brokenBank struct {
	name    string
	env     map[string]string                                 // extra server settings
	modify  func(r *http.Request)                             // changes the request before the server sees it
	answer  func(w http.ResponseWriter, r *http.Request) bool // answers instead of the server
	rewrite func(resp *http.Response) error                   // changes the server's answer
	fails   []string
}

// Against a deliberately broken bank the kit fails exactly the matching cases: each case can fail.
func TestConformance_ABrokenBankFailsExactlyTheMatchingCases(t *testing.T) {
	var inFlight atomic.Int32
	for _, b := range []brokenBank{
		{name: "next links start with /v2", env: map[string]string{"DSOP_LINK_BASE": "/v2"}, fails: []string{"FLOW-2B-PAGING"}},
		{name: "clear JSON where the consumer asked for JWE", modify: func(r *http.Request) { r.Header.Set("Accept", "application/json") }, fails: []string{"JWE"}},
		{name: "whitespace after the JWE", rewrite: func(resp *http.Response) error {
			if resp.StatusCode != 200 {
				return nil
			}
			return appendBody(resp, "\n")
		}, fails: []string{"JWE"}},
		{name: "Cards answered 404 ACC-002", answer: func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasSuffix(r.URL.Path, "/cards") {
				return false
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"code":"ACC-002","message":"no such account"}`)
			return true
		}, fails: []string{"REF-CARDS-ROLES"}},
		{name: "POST answered as a bad request", answer: func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodGet {
				return false
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"code":"ACC-001","message":"bad request"}`)
			return true
		}, fails: []string{"REF-METHOD"}},
		{name: "details refused beyond one at a time", answer: func(w http.ResponseWriter, r *http.Request) bool {
			if strings.HasSuffix(r.URL.Path, "/transactions") || !strings.HasPrefix(r.URL.Path, "/v2/accounts/") {
				return false
			}
			defer inFlight.Add(-1)
			if inFlight.Add(1) > 1 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(429)
				_, _ = io.WriteString(w, `{"code":"ACC-022","message":"slow down"}`)
				return true
			}
			time.Sleep(200 * time.Millisecond) // hold the slot while the others arrive
			return false
		}, fails: []string{"FLOW-2B-DETAILS"}},
		{name: "errors as text/plain", rewrite: func(resp *http.Response) error {
			if resp.StatusCode != 200 {
				resp.Header.Set("Content-Type", "text/plain")
			}
			return nil
		}, fails: []string{"ERR-FORMAT"}},
		{name: "an annulled bankruptcy served", modify: func(r *http.Request) {
			if r.Header.Get("PartyID") == "910425463" {
				r.Header.Set("PartyID", "910336819")
			}
		}, fails: []string{"REF-NOT-BANKRUPT"}},
		// A bank that refuses every party in step 2a: its refusals of the parties it must refuse
		// prove nothing, and REF-NOT-BANKRUPT says so instead of passing (issue #27).
		{name: "every party refused", answer: func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/v2/accounts" || r.Method != http.MethodGet || r.Header.Get("PartyID") == "" {
				return false
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(403)
			_, _ = io.WriteString(w, `{"code":"ACC-011","message":"no bankruptcy"}`)
			return true
		}, fails: []string{"FLOW-2A", "JWE", "REF-EXPIRED-TOKEN", "REF-FORGED-TOKEN", "REF-MANDATE", "REF-NO-TOKEN", "REF-NOT-BANKRUPT",
			"REF-ONLY-PRIMARY-OWNER", "REF-PARTYID", "REF-WINDOW"}},
		{name: "any token accepted", modify: func(r *http.Request) {
			if r.Header.Get("X-Valid-Token") != "" {
				r.Header.Set("Authorization", "Bearer "+r.Header.Get("X-Valid-Token"))
			}
		}, fails: []string{"REF-CONSUMER", "REF-EXPIRED-TOKEN", "REF-FORGED-TOKEN", "REF-NO-TOKEN", "REF-SCOPE"}},
	} {
		t.Run(b.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range b.env {
				env[k] = v
			}
			addr := serveTest(t, env)
			target, _ := url.Parse("http://" + addr)
			proxy := httputil.NewSingleHostReverseProxy(target)
			if b.rewrite != nil {
				proxy.ModifyResponse = b.rewrite
			}
			var validToken atomic.Value
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if b.answer != nil && b.answer(w, r) {
					return
				}
				if tok, ok := validToken.Load().(string); ok {
					r.Header.Set("X-Valid-Token", tok)
				}
				if b.modify != nil {
					b.modify(r)
				}
				proxy.ServeHTTP(w, r)
			}))
			defer front.Close()
			var tok bytes.Buffer
			require.NoError(t, run(context.Background(), []string{"dev-token", "--ttl", "1h"}, func(k string) string { return env[k] }, &tok, io.Discard))
			validToken.Store(strings.TrimSpace(tok.String()))

			rep, err := runKit(t, env, "--base-url", front.URL+"/v2")
			require.Error(t, err, "exit status 1 on a failure")
			require.Equal(t, b.fails, failedCases(rep), "%+v", rep.Cases)
		})
	}
}

func appendBody(resp *http.Response, s string) error {
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	resp.Body.Close()
	b = append(b, s...)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return nil
}

// The manual's table of cases (docs/conformance.md) is rendered from conformance.Cases: a changed
// case changes it.
func TestConformance_READMEListsEveryCase(t *testing.T) {
	readme, err := os.ReadFile("../../docs/conformance.md")
	require.NoError(t, err)
	for _, c := range conformance.Cases() {
		row := "| `" + c.ID + "` " + c.Title + " | " + strings.ReplaceAll(c.Checks, "|", `\|`) + " | " + c.Why + " | " + c.Ref + " |"
		require.Contains(t, string(readme), row, "README row of %s", c.ID)
	}
}

// The read-only production mode (issue #27): only the bank's own test party, GET only (the case
// that sends other methods is skipped, and nothing else is sent by any case), under a rate cap;
// without --parties it refuses to start (exit status 2).
func TestConformance_ProductionModeSendsGETOnlyForTheBanksOwnParty(t *testing.T) {
	env := map[string]string{}
	addr := serveTest(t, env)
	err := run(context.Background(), []string{"conformance", "--production", "--base-url", "http://" + addr + "/v2"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "--production needs --parties")
	require.Equal(t, 2, exitStatus(err))

	rep, err := runKit(t, env, "--production", "--rate", "50", "--base-url", "http://"+addr+"/v2", "--parties", "910336819:2018-06-08")
	require.NoError(t, err, "%+v", rep)
	require.Empty(t, failedCases(rep), "%+v", rep.Cases)
	skipped := map[string]string{}
	for _, c := range rep.Cases {
		if c.Status == "SKIP" {
			skipped[c.ID] = c.Evidence
		}
	}
	require.Contains(t, skipped["REF-METHOD"], "production mode sends GET only")
	require.Contains(t, skipped, "REF-NOT-BANKRUPT", "no published test debtor is asked for in production")

	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"audit", "query", "--format", "json"}, func(k string) string { return env[k] }, &out, &bytes.Buffer{}))
	gets := 0
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec struct{ Method string }
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		require.Equal(t, "GET", rec.Method, "production mode sent only GET: %s", line)
		gets++
	}
	require.Greater(t, gets, 10)
}
