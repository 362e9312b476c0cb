package filter

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
)

// The data file holds every row of the three tables of konkursbehandling-rules.md §4.2-4.4.
func TestRules_EveryRowOfTheDeliveryTables(t *testing.T) {
	rules, err := Rules()
	require.NoError(t, err)
	count := map[string]int{}
	for _, r := range rules {
		count[r.Endpoint]++
	}
	require.Equal(t, map[string]int{EndpointAccounts: 21, EndpointAccount: 29, EndpointTransactions: 50}, count)
	for _, want := range []Rule{
		{EndpointAccounts, "accounts.name", "D", UtleveresIkke, false},
		{EndpointAccount, "account.servicer.name", "D", UtleveresIkke, false},
		{EndpointAccount, "account.name", "D", TilVurdering, false},
		{EndpointAccounts, "accounts.servicer.name", "D", TilVurdering, true},
		{EndpointTransactions, "transactions.paymentCard.cardIdentifier", "MC", TekniskObligatorisk, true},
		{EndpointAccount, "account.balances.creditDebitIndicator", "D", TilVurdering, true},
	} {
		require.Contains(t, rules, want)
	}
}

func TestNew_RefusesOverridesOfFixedOrUnknownFields(t *testing.T) {
	for _, o := range []Overrides{
		{Emit: []string{"accounts:accounts.name"}},             // utleveres ikke
		{Omit: []string{"accounts:accounts.accountReference"}}, // teknisk obligatorisk
		{Omit: []string{"transactions:transactions.nonsense"}}, // unknown
		{Omit: []string{"transactions.merchant"}},              // no endpoint
	} {
		_, err := New(o)
		require.Error(t, err, "%+v", o)
	}
	_, err := New(Overrides{Emit: []string{"account:account.name"}, Omit: []string{"transactions:transactions.merchant"}})
	require.NoError(t, err)
}

func sampleTransactions() *dsop.Transactions {
	amt := json.Number("12.50")
	merchant := "Kiwi"
	return &dsop.Transactions{
		ResponseDetails: dsop.ResponseDetails{Status: dsop.Complete},
		Transactions: &[]dsop.Transaction{{
			TransactionIdentifier: "t1", Amount: &amt, Merchant: &merchant,
			References:  &[]dsop.TransactionReference{{Value: "123", Type: dsop.ArchiveReference}},
			PaymentCard: &dsop.PaymentCard{CardIdentifier: "4925 0000 1234 5678", HolderName: &merchant},
		}},
	}
}

func TestApply_DefaultPolicyKeepsTilVurderingMasksCardsAndNeverMutatesTheSource(t *testing.T) {
	p, err := New(Overrides{})
	require.NoError(t, err)
	src := sampleTransactions()
	body := *src
	delivered, err := p.Apply(EndpointTransactions, &body)
	require.NoError(t, err)
	tr := (*body.Transactions)[0]
	require.Equal(t, "492500XXXXXX5678", tr.PaymentCard.CardIdentifier)
	require.Equal(t, "4925 0000 1234 5678", (*src.Transactions)[0].PaymentCard.CardIdentifier, "the store's value is untouched")
	require.Contains(t, delivered, "transactions.merchant")
	require.Contains(t, delivered, "transactions.paymentCard.cardIdentifier")
	require.Contains(t, delivered, "responseDetails.status")
	require.NotContains(t, delivered, "transactions.currency")
}

func TestApply_OmittingARequiredChildDropsItsParent(t *testing.T) {
	p, err := New(Overrides{Omit: []string{"transactions:transactions.references.value", "transactions:transactions.merchant", "transactions:transactions.paymentCard.holderName"}})
	require.NoError(t, err)
	src := sampleTransactions()
	body := *src
	_, err = p.Apply(EndpointTransactions, &body)
	require.NoError(t, err)
	tr := (*body.Transactions)[0]
	require.Empty(t, *tr.References, "a reference without its value cannot be sent")
	require.Nil(t, tr.Merchant)
	require.Nil(t, tr.PaymentCard.HolderName)
	require.NotNil(t, (*src.Transactions)[0].PaymentCard.HolderName, "the store's value is untouched")
}

func TestApply_NeverFieldsAndUnlistedFieldsAreRemoved(t *testing.T) {
	p, err := New(Overrides{})
	require.NoError(t, err)
	name := "Driftskonto"
	srvName := "Banken"
	body := dsop.AccountDetails{ResponseDetails: dsop.ResponseDetails{Status: dsop.Complete}, Account: &dsop.AccountDetail{
		AccountIdentifier: "1", AccountReference: "r", Name: &name,
		Servicer: &dsop.FinancialInstitution{Name: &srvName, Identifier: &dsop.Identifier{Value: "910336819", Type: dsop.CountryIdentificationCode}},
	}}
	_, err = p.Apply(EndpointAccount, &body)
	require.NoError(t, err)
	require.Nil(t, body.Account.Name)
	require.Nil(t, body.Account.Servicer.Name)
	require.Equal(t, "910336819", body.Account.Servicer.Identifier.Value)
}

func TestMaskCardNumber(t *testing.T) {
	for in, want := range map[string]string{
		"4925000012345678":    "492500XXXXXX5678",
		"4925 0000 1234 5678": "492500XXXXXX5678",
		"492500XXXXXX5678":    "492500XXXXXX5678",
		"5555444433332222111": "555544XXXXXXXXX2111",
		"123456789012":        "XXXXXXXX9012",
		"1234":                "XXXX",
		"":                    "",
	} {
		require.Equal(t, want, MaskCardNumber(in), in)
	}
}

// Every service's delivery tables compile against the response types, and differ where their
// pages say so (OED: a counterparty's postal address may be filtered away, and is by default).
func TestFilter_EveryServicesTablesCompile(t *testing.T) {
	for _, svc := range dsopservice.All() {
		p, err := NewTable(svc.Delivery, Overrides{})
		require.NoError(t, err, svc.Name)
		require.NotEmpty(t, p.Fingerprint(), svc.Name)
	}
	oedPolicy, err := NewTable(dsopservice.OED().Delivery, Overrides{})
	require.NoError(t, err)
	kbPolicy, err := New(Overrides{})
	require.NoError(t, err)
	street := "Storgata"
	body := func() *dsop.Transactions {
		return &dsop.Transactions{Transactions: &[]dsop.Transaction{{TransactionIdentifier: "t1",
			CounterParties: &[]dsop.CounterParty{{PostalAddress: &dsop.PostalAddress{StreetName: &street}}}}}}
	}
	b := body()
	_, err = kbPolicy.Apply(EndpointTransactions, b)
	require.NoError(t, err)
	require.NotNil(t, (*(*b.Transactions)[0].CounterParties)[0].PostalAddress, "til vurdering in Konkursbehandling: delivered by default")
	b = body()
	_, err = oedPolicy.Apply(EndpointTransactions, b)
	require.NoError(t, err)
	cps := (*b.Transactions)[0].CounterParties
	require.True(t, cps == nil || len(*cps) == 0 || (*cps)[0].PostalAddress == nil, "kan filtreres bort in OED: omitted by default")
}
