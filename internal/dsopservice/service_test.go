package dsopservice_test

import (
	"errors"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

const (
	brreg  = "0192:974760673"
	digdir = "0192:991825827"
)

// The mandate as each consumer may encode it: compared after percent-decoding and white-space
// normalisation, never more loosely.
func TestKonkursbehandling_MandateEncodedForms(t *testing.T) {
	kb := dsopservice.Konkursbehandling()
	for name, c := range map[string]struct {
		raw string
		ok  bool
	}{
		"as BRREG sends it":   {"kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721", true},
		"parentheses encoded": {"kkl.%20%C2%A7156%20%283%29%20og%20%284%29%2C%20jf.%20kkfor.%C2%A721", true},
		"lower-case hex":      {"kkl.%20%c2%a7156%20(3)%20og%20(4)%2c%20jf.%20kkfor.%c2%a721", true},
		"Go's PathEscape":     {url.PathEscape(kb.Mandates[0]), true},
		"decoded UTF-8":       {kb.Mandates[0], true},
		"trailing space":      {"kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721%20", true},
		"double space":        {"kkl.%20%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721", true},
		"space before §21":    {"kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%20%C2%A721", false},
		"plus for space":      {"kkl.+%C2%A7156+(3)+og+(4)%2C+jf.+kkfor.%C2%A721", false},
		"Latin-1 §":           {"kkl.%20%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%A721", false},
		"other service":       {"Skatteforvaltningsloven%20%C2%A7%2010-2", false},
		"OED's":               {url.PathEscape(dsopservice.OED().Mandates[0]), false},
	} {
		t.Run(name, func(t *testing.T) {
			dec, err := validation.DecodeMandate(c.raw)
			require.NoError(t, err)
			require.Equal(t, c.ok, kb.AcceptsMandate(dec), dec)
		})
	}
}

func TestRegistry_RoutesByConsumerThenMandate(t *testing.T) {
	r, err := dsopservice.NewRegistry(dsopservice.All(), "konkursbehandling", "oed")
	require.NoError(t, err)
	kb, oed := dsopservice.Konkursbehandling(), dsopservice.OED()
	svc, err := r.Route(brreg, kb.Mandates[0])
	require.NoError(t, err)
	require.Equal(t, "konkursbehandling", svc.Name)
	svc, err = r.Route(digdir, oed.Mandates[0])
	require.NoError(t, err)
	require.Equal(t, "oed", svc.Name)
	for name, c := range map[string]struct {
		consumer, mandate string
		want              error
	}{
		"a consumer of no service":            {"0192:974761076", kb.Mandates[0], dsopservice.ErrConsumer},
		"no service's mandate":                {brreg, "Skatteforvaltningsloven § 10-2", dsopservice.ErrMandate},
		"BRREG with OED's mandate":            {brreg, oed.Mandates[0], dsopservice.ErrConsumerForMandate},
		"Digdir with Konkursbehandling's":     {digdir, kb.Mandates[0], dsopservice.ErrConsumerForMandate},
		"the consumer is checked first":       {"0192:974761076", "nonsense", dsopservice.ErrConsumer},
		"the mandate before the pair of both": {digdir, "", dsopservice.ErrMandate},
	} {
		_, err := r.Route(c.consumer, c.mandate)
		require.ErrorIs(t, err, c.want, name)
	}
	// A service that is not enabled is the same as an unknown one.
	only, err := dsopservice.NewRegistry(dsopservice.All(), "konkursbehandling")
	require.NoError(t, err)
	_, err = only.Route(digdir, oed.Mandates[0])
	require.ErrorIs(t, err, dsopservice.ErrConsumer)
	_, err = only.Route(brreg, oed.Mandates[0])
	require.ErrorIs(t, err, dsopservice.ErrMandate)
}

func TestNewRegistry_RefusesWhatCannotBeRouted(t *testing.T) {
	_, err := dsopservice.NewRegistry(dsopservice.All(), "konkursbehandling", "skatt")
	require.ErrorContains(t, err, `unknown DSOP service "skatt"`)
	_, err = dsopservice.NewRegistry(dsopservice.All(), "oed", "oed")
	require.ErrorContains(t, err, "listed twice")
	twin := dsopservice.Konkursbehandling()
	twin.Name = "twin"
	_, err = dsopservice.NewRegistry(append(dsopservice.All(), twin), "konkursbehandling", "twin")
	require.ErrorContains(t, err, "could not be routed")
	_, err = dsopservice.NewRegistry(dsopservice.All())
	require.Error(t, err)
}

func TestWindow_EachServicesLookBack(t *testing.T) {
	kb, oed := dsopservice.Konkursbehandling().Window, dsopservice.OED().Window
	require.Equal(t, civil.MustParse("2023-03-01"), kb.Earliest(civil.MustParse("2024-02-29")), "12 months back from a leap day, never a day more")
	require.Equal(t, civil.MustParse("2026-06-15"), oed.Earliest(civil.MustParse("2026-09-15")))
	require.Equal(t, civil.MustParse("2026-03-03"), oed.Earliest(civil.MustParse("2026-05-31")), "31 February normalises forward: the strict reading, never a day more than 3 months")
	err := oed.Check(civil.Period{From: civil.MustParse("2026-06-14"), To: civil.MustParse("2026-11-23")}, civil.MustParse("2026-09-15"))
	var we *dsopservice.WindowError
	require.True(t, errors.As(err, &we))
	require.Equal(t, "fromDate 2026-06-14 is more than 3 months before the date of death 2026-09-15; the earliest allowed fromDate is 2026-06-15", err.Error())
	require.NoError(t, oed.Check(civil.Period{From: civil.MustParse("2026-06-15"), To: civil.MustParse("2026-11-23")}, civil.MustParse("2026-09-15")))
}
