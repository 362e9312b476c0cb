package postgres

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	_, err := ImportFile(ctx, pool, path, accounts.NewReferencer([]byte("0123456789abcdef0123456789abcdef")), defaultPolicy(t), ImportOptions{})
	require.ErrorContains(t, err, "given twice")
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM transactions").Scan(&n))
	require.Zero(t, n)

	// The same file without the second number imports.
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(doc, `, "accountNumber": "15035218545"}`, `}`, 1)), 0o600))
	_, err = ImportFile(ctx, pool, path, accounts.NewReferencer([]byte("0123456789abcdef0123456789abcdef")), defaultPolicy(t), ImportOptions{})
	require.NoError(t, err)
}

// --max-rate caps the load (an import that cannot finish at the cap within its deadline is
// cancelled) and a cancelled import changes nothing.
func TestImportFile_MaxRateCapsTheLoadAndACancelledImportChangesNothing(t *testing.T) {
	pool := deltaPool(t)
	before := snapshot(t, pool)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var txs []string
	for i := range 50 {
		txs = append(txs, fmt.Sprintf(`{"transactionIdentifier": "r-%d", "amount": 1, "creditDebitIndicator": "debit", "status": "booked", "bookingDate": "2026-01-02T10:00:00Z"}`, i))
	}
	doc := strings.Replace(deltaBase, `"transactions": [`, `"transactions": [`+strings.Join(txs, ",")+",", 1)
	_, err := ImportFile(ctx, pool, writeJSON(t, doc), deltaRefs, defaultPolicy(t), ImportOptions{MaxRate: 1})
	require.Error(t, err, "50 transactions at one a second cannot load in 2 s")
	require.Equal(t, before, snapshot(t, pool))
	_, err = ImportFile(context.Background(), pool, writeJSON(t, doc), deltaRefs, defaultPolicy(t), ImportOptions{MaxRate: 1e6})
	require.NoError(t, err)
	require.NotEqual(t, before, snapshot(t, pool))
}

// The new generation is analysed before it serves: the planner knows its size from the first
// request (a table never analysed is planned from guesses).
func TestImportFile_TheNewGenerationHasStatisticsWhenItServes(t *testing.T) {
	pool := deltaPool(t)
	var analyzed int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_user_tables
		WHERE schemaname = current_schema() AND relname IN ('parties', 'accounts', 'account_roles', 'transactions', 'bank_servicer')
		AND last_analyze IS NOT NULL`).Scan(&analyzed))
	require.Equal(t, 5, analyzed)
}
