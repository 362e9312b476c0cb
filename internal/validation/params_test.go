package validation

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

func TestCheckMandate_EncodedForms(t *testing.T) {
	for name, c := range map[string]struct {
		raw string
		ok  bool
	}{
		"as BRREG sends it":   {"kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721", true},
		"parentheses encoded": {"kkl.%20%C2%A7156%20%283%29%20og%20%284%29%2C%20jf.%20kkfor.%C2%A721", true},
		"lower-case hex":      {"kkl.%20%c2%a7156%20(3)%20og%20(4)%2c%20jf.%20kkfor.%c2%a721", true},
		"Go's PathEscape":     {url.PathEscape(KonkursMandate), true},
		"decoded UTF-8":       {KonkursMandate, true},
		"space before §21":    {"kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%20%C2%A721", false},
		"plus for space":      {"kkl.+%C2%A7156+(3)+og+(4)%2C+jf.+kkfor.%C2%A721", false},
		"Latin-1 §":           {"kkl.%20%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%A721", false},
		"other service":       {"Skatteforvaltningsloven%20%C2%A7%2010-2", false},
		"broken escape":       {"kkl.%2", false},
		"empty":               {"", false},
		"trailing space":      {"kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721%20", false},
	} {
		t.Run(name, func(t *testing.T) {
			dec, err := CheckMandate(c.raw)
			if c.ok {
				require.NoError(t, err)
				require.Equal(t, KonkursMandate, dec)
				return
			}
			var pe *ParamError
			require.True(t, errors.As(err, &pe), "%v", err)
			require.Equal(t, "Legal-Mandate", pe.Param)
		})
	}
}

func TestCheckUUID(t *testing.T) {
	for v, ok := range map[string]bool{
		"d4a820ca-ddde-11ed-b5ea-0242ac120002":          true,
		"14FBC062-AACB-4449-93C1-85C352D387A4":          true,
		"14fbc062aacb444993c185c352d387a4":              false,
		"{14fbc062-aacb-4449-93c1-85c352d387a4}":        false,
		"urn:uuid:14fbc062-aacb-4449-93c1-85c352d387a4": false,
		"14fbc062-aacb-4449-93c1-85c352d387ag":          false,
		"":                                              false, "abc": false,
	} {
		err := CheckUUID("CorrelationID", v)
		require.Equal(t, ok, err == nil, "%q: %v", v, err)
	}
}

func TestCheckOnlyPrimaryOwner_OnlyTrueInAnyCase(t *testing.T) {
	for v, ok := range map[string]bool{"true": true, "TRUE": true, "True": true, "false": false, "FALSE": false, "1": false, "t": false, "": false, "yes": false} {
		require.Equal(t, ok, CheckOnlyPrimaryOwner(v) == nil, v)
	}
}

func TestCheckPeriod(t *testing.T) {
	today := civil.MustParse("2026-11-23")
	d := civil.MustParse
	_, err := CheckPeriod(d("2026-01-02"), d("2026-01-01"), today, ToDateNotInFuture)
	require.Error(t, err)
	_, err = CheckPeriod(d("2026-01-01"), d("2026-11-24"), today, ToDateNotInFuture)
	require.Error(t, err)
	_, err = CheckPeriod(d("2026-01-01"), d("2026-11-22"), today, ToDateNotInFuture)
	require.NoError(t, err)
	_, err = CheckPeriod(d("2026-01-01"), d("2026-11-22"), today, ToDateToday)
	require.Error(t, err)
	_, err = CheckPeriod(d("2026-11-23"), d("2026-11-23"), today, ToDateToday)
	require.NoError(t, err)
}

func FuzzRulesCheck(f *testing.F) {
	f.Add("d4a820ca-ddde-11ed-b5ea-0242ac120002", "14fbc062-aacb-4449-93c1-85c352d387a4", "kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721", "2025-01-01", "2026-11-23")
	f.Add("", "x", "%", "2024-13-01", "01.01.2024")
	today := civil.MustParse("2026-11-23")
	f.Fuzz(func(t *testing.T, aid, cid, mandate, from, to string) {
		r, err := Rules{ToDate: ToDateNotInFuture}.CheckAccounts(AccountsInput{
			Input:   Input{AccountInfoRequestID: aid, CorrelationID: cid, LegalMandate: mandate, FromDate: &from, ToDate: &to},
			PartyID: "910336819", OnlyPrimaryOwner: "true"}, today)
		if err != nil {
			var pe *ParamError
			require.True(t, errors.As(err, &pe), "every refusal is a ParamError: %v", err)
			require.NotEmpty(t, pe.Message)
			return
		}
		require.Equal(t, KonkursMandate, r.LegalMandate)
		require.False(t, r.Period.From.After(r.Period.To))
		require.False(t, r.Period.To.After(today))
		require.Len(t, strings.Split(aid, "-"), 5)
	})
}
