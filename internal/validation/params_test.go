package validation

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

// DecodeMandate only decodes: which service's mandate it is, is the routing's
// (dsopservice.Registry.Route, whose tests hold the encoded forms of each service's mandate).
func TestDecodeMandate(t *testing.T) {
	dec, err := DecodeMandate("a%20%C2%A7%2092%20(3)")
	require.NoError(t, err)
	require.Equal(t, "a § 92 (3)", dec)
	dec, err = DecodeMandate("a + b")
	require.NoError(t, err)
	require.Equal(t, "a + b", dec, "a plus is not a space in a path-style escape")
	for _, raw := range []string{"", "kkl.%2", "%zz"} {
		_, err := DecodeMandate(raw)
		var pe *ParamError
		require.True(t, errors.As(err, &pe), "%q: %v", raw, err)
		require.Equal(t, "Legal-Mandate", pe.Param)
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

func TestCheckOnlyPrimaryOwner_TheServicesValuesInAnyCase(t *testing.T) {
	for v, ok := range map[string]bool{"true": true, "TRUE": true, "True": true, "false": false, "FALSE": false, "1": false, "t": false, "": false, "yes": false} {
		require.Equal(t, ok, CheckOnlyPrimaryOwner(v, []string{"TRUE"}, "Konkursbehandling") == nil, v)
	}
	for v, ok := range map[string]bool{"true": true, "FALSE": true, "false": true, "1": false, "": false} {
		require.Equal(t, ok, CheckOnlyPrimaryOwner(v, []string{"TRUE", "FALSE"}, "a service with both") == nil, v)
	}
	require.ErrorContains(t, CheckOnlyPrimaryOwner("false", []string{"TRUE"}, "Oppgjør etter dødsfall"), "Oppgjør etter dødsfall")
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
			PartyID: "910336819", OnlyPrimaryOwner: "true", AllowedOnlyPrimaryOwner: []string{"TRUE"}}, today)
		if err != nil {
			var pe *ParamError
			require.True(t, errors.As(err, &pe), "every refusal is a ParamError: %v", err)
			require.NotEmpty(t, pe.Message)
			return
		}
		require.Equal(t, must(url.PathUnescape(mandate)), r.LegalMandate)
		require.False(t, r.Period.From.After(r.Period.To))
		require.False(t, r.Period.To.After(today))
		require.Len(t, strings.Split(aid, "-"), 5)
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
