package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// The file of issue #28 whose account object names two account numbers: check-bank-data, import
// and the in-memory server all refuse it with the place to fix, import changes nothing, and the
// healthy customer's transactions are never filed under the bankrupt debtor's account.
const duplicatedNumber = `{"servicer": {"organisationNumber": "900293003", "name": "Demobanken ASA"},
 "parties": [{"id": "910336819", "name": "Fjelltopp Bygg AS"}, {"id": "900308841", "name": "Frisk Kunde AS"}],
 "accounts": [
  {"accountNumber": "15039279301", "type": "businessAccount", "currency": "NOK", "status": "enabled", "startDate": "2015-01-01", "balances": {},
   "transactions": [{"transactionIdentifier": "frisk-1", "amount": 10, "creditDebitIndicator": "debit", "status": "booked", "bookingDate": "2026-01-02T10:00:00+01:00"}],
   "roles": [{"partyId": "910336819", "role": "primaryOwner", "startDate": "2015-01-01"}], "accountNumber": "15035218545"},
  {"accountNumber": "15039279301", "type": "businessAccount", "currency": "NOK", "status": "enabled", "startDate": "2015-01-01", "balances": {},
   "roles": [{"partyId": "900308841", "role": "primaryOwner", "startDate": "2015-01-01"}]}]}
`

func TestStrict_AnAmbiguousFileIsRefusedByEveryReader(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bank.json")
	require.NoError(t, os.WriteFile(file, []byte(duplicatedNumber), 0o600))

	var out bytes.Buffer
	err := run(context.Background(), []string{"check-bank-data", file}, os.Getenv, &out, &bytes.Buffer{})
	require.Error(t, err)
	require.Contains(t, out.String(), file+":6:", "located by line and column")
	require.Contains(t, out.String(), "/accounts/0/accountNumber: member \"accountNumber\" is given twice")

	// The in-memory server does not start on it.
	env := map[string]string{"DSOP_BANK_DATA": file, "DSOP_STATE_DIR": t.TempDir(), "DSOP_ADDR": freeAddr(t), "DSOP_MOCK_KONKURSVARSEL_ADDR": freeAddr(t)}
	err = run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "given twice")

	// import refuses it, and the bank data imported before stays as it was.
	url := pgtest.URL(t)
	good := filepath.Join(dir, "good.json")
	require.NoError(t, os.WriteFile(good, []byte(demoBankJSON(t)), 0o600))
	penv := map[string]string{"DSOP_DATABASE_URL": url, "DSOP_STATE_DIR": t.TempDir()}
	getenv := func(k string) string { return penv[k] }
	require.NoError(t, run(context.Background(), []string{"import", "--bank-data", good}, getenv, &bytes.Buffer{}, &bytes.Buffer{}))
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	defer pool.Close()
	count := func() (n int) {
		require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM transactions").Scan(&n))
		return n
	}
	before := count()
	var errOut bytes.Buffer
	err = run(context.Background(), []string{"import", "--bank-data", file}, getenv, &bytes.Buffer{}, &errOut)
	require.ErrorContains(t, err, "nothing was imported")
	require.Contains(t, errOut.String(), "given twice")
	require.Equal(t, before, count(), "a refused import changes nothing")
	var frisk int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM transactions WHERE transaction_id = 'frisk-1'").Scan(&frisk))
	require.Zero(t, frisk, "the other customer's transaction is nowhere")
	require.False(t, strings.Contains(errOut.String(), "imported"), errOut.String())
}

// Production refuses a placeholder or low-entropy secret and says what to write instead; a hex
// or base64 random secret, or raw random bytes, are accepted.
func TestSecret_ProductionRefusesAPlaceholder(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		secret string
		ok     bool
	}{
		"the manifest's placeholder": {"replace-me-with-32-or-more-random-bytes", false},
		"one byte repeated":          {strings.Repeat("a", 64), false},
		"a typed phrase":             {"correct horse battery staple 123", false},
		"hex of 32 random bytes":     {"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", true},
		"base64 of 48 random bytes":  {"q1X3Jm0cG2k8yQ7sU5w9eR4tY6uI0oP2aS4dF6gH8jK0lZ2xC4vB6nM8qW0eR2tY", true},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		require.NoError(t, os.WriteFile(path, []byte(c.secret), 0o600))
		_, err := loadSecret(path, false, true)
		if c.ok {
			require.NoError(t, err, name)
		} else {
			require.ErrorContains(t, err, "openssl rand", name)
		}
	}
}

// Secrets of production tests: strong enough for weakSecret (random hex).
const (
	testSecretA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	testSecretB = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
)

// A command line the program cannot read exits 2 with a short hint; findings and failures exit 1
// (issue #27: usage errors exited 1 like findings, and an unknown flag printed 61 lines).
func TestCLI_UsageErrorsExit2WithAShortHint(t *testing.T) {
	for _, args := range [][]string{{"serve", "--no-such-flag"}, {"no-such-command"}, {"audit"}, {"check-bank-data", "--bogus"}, {"serve", "extra"}} {
		var stderr bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &bytes.Buffer{}, &stderr)
		require.Error(t, err, args)
		require.Equal(t, 2, exitStatus(err), "%v: %v", args, err)
		require.LessOrEqual(t, strings.Count(stderr.String(), "\n"), 12, "%v printed: %s", args, stderr.String())
	}
	// --help still shows every setting, with exit status 0.
	var stdout bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"serve", "--help"}, func(string) string { return "" }, &stdout, &bytes.Buffer{}))
	require.Contains(t, stdout.String(), "DSOP_SERVICES")
	// A finding is 1.
	file := filepath.Join(t.TempDir(), "bank.json")
	require.NoError(t, os.WriteFile(file, []byte(`{}`), 0o600))
	err := run(context.Background(), []string{"check-bank-data", file}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
	require.Error(t, err)
	require.Equal(t, 1, exitStatus(err))
}

// check-bank-data --delta reads a change set as import --delta does: the number is required, and
// the same forms are refused, each located.
func TestCheckBankData_ChangeSet(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		doc, want string
		ok        bool
	}{
		{`{"sequence": 3, "parties": [{"id": "910336819", "name": "Ny"}]}`, "ok, change set 3 (1 parties, 0 accounts, 0 transactions)", true},
		{`{"parties": [{"id": "910336819"}]}`, `1:1: /: property "sequence" is missing`, false},
		{`{"sequence": 3, "parties": [{"id": "910336819", "id": "900308841"}]}`, "/parties/0/id: duplicate object member name", false},
		{`{"sequence": 3} {"sequence": 4}`, "data after the end of the document", false},
	} {
		file := filepath.Join(dir, "delta.json")
		require.NoError(t, os.WriteFile(file, []byte(c.doc), 0o600))
		var out bytes.Buffer
		err := run(context.Background(), []string{"check-bank-data", "--delta", file}, os.Getenv, &out, &bytes.Buffer{})
		require.Equal(t, c.ok, err == nil, out.String())
		require.Contains(t, out.String(), c.want)
	}
}
