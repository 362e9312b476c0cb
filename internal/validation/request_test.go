package validation

import (
	"errors"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

const encodedMandate = "kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721"

// TestCheckAccounts_OrderOfChecks proves the order of konkursbehandling-rules.md §6: every
// parameter's format is checked before the mandate is decoded, so a request with several faults
// is told about the first in that order. (Which service's mandate it is was decided when the
// request was routed.)
func TestCheckAccounts_OrderOfChecks(t *testing.T) {
	today := civil.MustParse("2026-11-23")
	s := func(v string) *string { return &v }
	valid := func() AccountsInput {
		return AccountsInput{
			Input: Input{AccountInfoRequestID: "d4a820ca-ddde-11ed-b5ea-0242ac120002", CorrelationID: "14fbc062-aacb-4449-93c1-85c352d387a4",
				LegalMandate: encodedMandate, FromDate: s("2025-11-23"), ToDate: s("2026-11-23")},
			PartyID: "910336819", OnlyPrimaryOwner: "TRUE", AllowedOnlyPrimaryOwner: []string{"TRUE"},
		}
	}
	badMandate := func(in *AccountsInput) { in.LegalMandate = "kkl.%2" }
	for _, tc := range []struct {
		name    string
		breakIt func(*AccountsInput)
		param   string
	}{
		{"AccountInfoRequestID before everything", func(in *AccountsInput) { in.AccountInfoRequestID = "x"; in.CorrelationID = "y"; badMandate(in) }, "AccountInfoRequestID"},
		{"CorrelationID before PartyID", func(in *AccountsInput) { in.CorrelationID = "y"; in.PartyID = "1"; badMandate(in) }, "CorrelationID"},
		{"PartyID before OnlyPrimaryOwner", func(in *AccountsInput) { in.PartyID = "910336818"; in.OnlyPrimaryOwner = "false"; badMandate(in) }, "PartyID"},
		{"OnlyPrimaryOwner before dates", func(in *AccountsInput) { in.OnlyPrimaryOwner = "false"; in.FromDate = s("x"); badMandate(in) }, "OnlyPrimaryOwner"},
		{"fromDate format before the mandate", func(in *AccountsInput) { in.FromDate = s("2025-13-01"); badMandate(in) }, "fromDate"},
		{"toDate in the future before the mandate", func(in *AccountsInput) { in.ToDate = s("2026-11-24"); badMandate(in) }, "toDate"},
		{"fromDate after toDate before the mandate", func(in *AccountsInput) { in.FromDate = s("2026-11-23"); in.ToDate = s("2026-11-22"); badMandate(in) }, "fromDate"},
		{"mandate last", badMandate, "Legal-Mandate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := valid()
			_, err := Rules{}.CheckAccounts(in, today)
			require.NoError(t, err, "the unbroken request passes, so the refusal below is the break's")
			tc.breakIt(&in)
			_, err = Rules{}.CheckAccounts(in, today)
			var pe *ParamError
			require.True(t, errors.As(err, &pe), "%v", err)
			require.Equal(t, tc.param, pe.Param, pe.Message)
		})
	}
}

func TestCheckAccount_ChecksTheSharedInputsAndReturnsThePeriod(t *testing.T) {
	today := civil.MustParse("2026-11-23")
	s := func(v string) *string { return &v }
	in := Input{AccountInfoRequestID: "d4a820ca-ddde-11ed-b5ea-0242ac120002", CorrelationID: "14fbc062-aacb-4449-93c1-85c352d387a4",
		LegalMandate: "kkl.%20%C2%A7156%20%283%29%20og%20%284%29%2C%20jf.%20kkfor.%C2%A721", FromDate: s("2025-11-23"), ToDate: s("2026-11-23")}
	r, err := Rules{}.CheckAccount(in, today)
	require.NoError(t, err, "%%28/%%29 as .NET's Uri.EscapeDataString sends them")
	require.Equal(t, "kkl. §156 (3) og (4), jf. kkfor.§21", r.LegalMandate)
	require.Equal(t, civil.Period{From: civil.MustParse("2025-11-23"), To: today}, r.Period)
	in.ToDate = nil
	_, err = Rules{}.CheckAccount(in, today)
	require.ErrorContains(t, err, "toDate is required")
}

func TestOnlyPrimaryOwner_BothSpellingsTheSchemaOneWins(t *testing.T) {
	for _, tc := range []struct{ query, value, name string }{
		{"OnlyPrimaryOwner=true", "true", "OnlyPrimaryOwner"},
		{"onlyPrimaryOwner=TRUE", "TRUE", "onlyPrimaryOwner"},
		{"onlyPrimaryOwner=false&OnlyPrimaryOwner=true", "true", "OnlyPrimaryOwner"},
		{"fromDate=2025-01-01", "", ""},
	} {
		q, err := url.ParseQuery(tc.query)
		require.NoError(t, err)
		v, name, ok := OnlyPrimaryOwner(q)
		require.Equal(t, tc.value, v, tc.query)
		require.Equal(t, tc.name, name, tc.query)
		require.Equal(t, tc.name != "", ok, tc.query)
	}
}
