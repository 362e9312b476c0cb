package postgres

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
)

// ImportFile reads with the one strict reader: a file changed after it was checked into one that
// can be read more than one way is refused inside the import, and nothing of it is kept.
func TestImportFile_RefusesAnAmbiguousFileItself(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	doc := `{"servicer": {"organisationNumber": "900293003"}, "parties": [{"id": "910336819"}],
 "accounts": [{"accountNumber": "15039279301", "type": "businessAccount", "currency": "NOK", "status": "enabled", "startDate": "2015-01-01", "balances": {},
   "transactions": [{"transactionIdentifier": "t-1", "amount": 10, "creditDebitIndicator": "debit", "status": "booked", "bookingDate": "2026-01-02T10:00:00+01:00"}],
   "roles": [{"partyId": "910336819", "role": "primaryOwner", "startDate": "2015-01-01"}], "accountNumber": "15035218545"}]}`
	path := filepath.Join(t.TempDir(), "bank.json")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	_, err := ImportFile(ctx, pool, path, accounts.NewReferencer([]byte("0123456789abcdef0123456789abcdef")), defaultPolicy(t), nil)
	require.ErrorContains(t, err, "given twice")
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM transactions").Scan(&n))
	require.Zero(t, n)

	// The same file without the second number imports.
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(doc, `, "accountNumber": "15035218545"}`, `}`, 1)), 0o600))
	_, err = ImportFile(ctx, pool, path, accounts.NewReferencer([]byte("0123456789abcdef0123456789abcdef")), defaultPolicy(t), nil)
	require.NoError(t, err)
}
