package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// planOf is the plan of query with sequential scans discouraged, so that it is the plan of a
// large bank whatever the size of the test data: a table read whole means no index could serve.
func planOf(t *testing.T, query string, args ...any) string {
	t.Helper()
	pool := testPool(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "SET enable_seqscan = off")
	require.NoError(t, err)
	rows, err := conn.Query(ctx, "EXPLAIN "+query, args...)
	require.NoError(t, err)
	var plan []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan = append(plan, line)
	}
	require.NoError(t, rows.Err())
	return strings.Join(plan, "\n")
}

// The owners of one account are found through an index, never by reading all of account_roles
// (issue #31: the lookup behind every details call and transactions page grew with the bank).
func TestPlans_OwnersOfAnAccountNeverScanAccountRoles(t *testing.T) {
	text := planOf(t, `SELECT a.doc, o.party, o.doc FROM accounts a
		LEFT JOIN LATERAL (
			SELECT p.party, n.doc, n.registreringstidspunkt, n.uuid FROM notice_parties p JOIN notices n ON n.uuid = p.uuid
			WHERE p.party IN (SELECT party_id FROM account_roles r WHERE r.reference = a.reference AND r.role = $2)
		) o ON true
		WHERE a.reference = $1`, "ref", "primaryOwner")
	require.NotContains(t, text, "Seq Scan on account_roles", text)
	require.Regexp(t, `on account_roles r[^\n]*\n\s+Index Cond: \(\(?reference = a\.reference`, text,
		"account_roles is entered by the account's reference, not read whole through another index")
}

// Step 2a reads a party's accounts through account_roles_party and the accounts' key.
func TestPlans_AccountsOfAPartyNeverScanATable(t *testing.T) {
	text := planOf(t, AccountsOfPartyQuery, "910336819")
	require.NotContains(t, text, "Seq Scan", text)
	require.Contains(t, text, "account_roles_party", text)
}
