package accountstest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
)

// WriteFile writes bd as a bank data file in a temporary directory and returns its path: tests
// that hold a BankData in memory load it the one way the product does, from a file
// (postgres.ImportFile, dsop-bank import).
func WriteFile(tb testing.TB, bd *accounts.BankData) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "bank.json")
	b, err := json.Marshal(bd)
	require.NoError(tb, err)
	require.NoError(tb, os.WriteFile(path, b, 0o600))
	return path
}
