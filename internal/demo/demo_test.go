package demo

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"
)

func bankDataSchema(t *testing.T) *openapi3.Schema {
	t.Helper()
	l := openapi3.NewLoader()
	l.IsExternalRefsAllowed = true
	doc, err := l.LoadFromFile("../../openapi/bank-data.yaml")
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))
	return doc.Components.Schemas["BankData"].Value
}

// The demo bank follows the documented file format.
func TestBankData_FollowsTheSchema(t *testing.T) {
	var v any
	b, err := io.ReadAll(BankData())
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &v))
	require.NoError(t, bankDataSchema(t).VisitJSON(v, openapi3.EnableFormatValidation(), openapi3.MultiErrors()))
}

func TestBankData_SchemaRefusesWhatTheFormatForbids(t *testing.T) {
	s := bankDataSchema(t)
	for name, doc := range map[string]string{
		"unknown field":    `{"servicer":{"organisationNumber":"910336819"},"parties":[],"accounts":[],"x":1}`,
		"negative amount":  `{"servicer":{"organisationNumber":"910336819"},"parties":[],"accounts":[{"accountNumber":"1","type":"salaryAccount","currency":"NOK","status":"enabled","startDate":"2020-01-01","roles":[],"balances":{"current":{"booked":{"amount":-1,"creditDebitIndicator":"credit"},"available":{"amount":1,"creditDebitIndicator":"credit"},"registered":"2020-01-01T00:00:00Z"}}}]}`,
		"bad account type": `{"servicer":{"organisationNumber":"910336819"},"parties":[],"accounts":[{"accountNumber":"1","type":"weird","currency":"NOK","status":"enabled","startDate":"2020-01-01","roles":[],"balances":{}}]}`,
		"bad role":         `{"servicer":{"organisationNumber":"910336819"},"parties":[],"accounts":[{"accountNumber":"1","type":"salaryAccount","currency":"NOK","status":"enabled","startDate":"2020-01-01","roles":[{"partyId":"1","role":"owner","startDate":"2020-01-01"}],"balances":{}}]}`,
	} {
		var v any
		require.NoError(t, json.Unmarshal([]byte(doc), &v))
		require.Error(t, s.VisitJSON(v, openapi3.EnableFormatValidation()), name)
	}
}

// The demo notices are BRREG's published test notices, with a kjennelsesdato for each aapning
// (the date of its registreringstidspunkt): nothing added, nothing lost.
func TestKonkursvarsler_AreTheBRREGTestNotices(t *testing.T) {
	published, err := os.ReadFile("../../testdata/konkursvarsel-testdata.json")
	require.NoError(t, err)
	var want []map[string]any
	require.NoError(t, json.Unmarshal(published, &want))
	var got struct {
		Embedded struct {
			Konkursvarsler []map[string]any `json:"konkursvarsler"`
		} `json:"_embedded"`
	}
	b, err := io.ReadAll(Konkursvarsler())
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &got))
	require.Len(t, got.Embedded.Konkursvarsler, len(want))
	for i, n := range want {
		g := got.Embedded.Konkursvarsler[i]
		for k, v := range n {
			require.Equal(t, v, g[k], "notice %d field %s", i, k)
		}
		if n["type"] == "aapning" {
			require.Equal(t, n["registreringstidspunkt"].(string)[:10], g["kjennelsesdato"])
		}
	}
}
