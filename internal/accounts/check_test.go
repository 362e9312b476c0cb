package accounts

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/demo"
)

func TestCheck_TheDemoBankHasNoProblem(t *testing.T) {
	b, err := io.ReadAll(demo.BankData())
	require.NoError(t, err)
	problems, err := Check(b)
	require.NoError(t, err)
	require.Empty(t, problems)
}

func TestCheck_CrossRecordRulesAreLocatedToo(t *testing.T) {
	doc := strings.Join([]string{
		`{"servicer": {"organisationNumber": "910336819"},`,
		` "parties": [{"id": "910336819"}],`,
		` "accounts": [{"accountNumber": "1", "type": "salaryAccount", "currency": "NOK", "status": "enabled", "startDate": "2020-01-01", "balances": {},`,
		`   "roles": [{"partyId": "900308841", "role": "primaryOwner", "startDate": "2020-01-01"}]}]}`,
	}, "\n")
	problems, err := Check([]byte(doc))
	require.NoError(t, err)
	require.Len(t, problems, 1)
	require.Equal(t, "/accounts/0/roles/0/partyId", problems[0].Path)
	require.Equal(t, 4, problems[0].Line)
	require.Contains(t, problems[0].Message, "party is not in parties[]")
}
