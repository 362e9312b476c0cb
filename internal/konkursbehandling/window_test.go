package konkursbehandling

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

func TestWindow_RejectsFromDateMoreThan12MonthsBeforeKjennelsesdato(t *testing.T) {
	k := civil.MustParse("2024-05-15")
	today := civil.MustParse("2026-11-23")
	p := func(from string) civil.Period { return civil.Period{From: civil.MustParse(from), To: today} }
	require.NoError(t, CheckWindow(p("2023-05-15"), k))
	require.NoError(t, CheckWindow(p("2024-06-01"), k))
	err := CheckWindow(p("2023-05-14"), k)
	var we *WindowError
	require.True(t, errors.As(err, &we))
	require.Equal(t, "2023-05-15", we.Earliest.String())
	require.Contains(t, err.Error(), "the earliest allowed fromDate is 2023-05-15")
}

func TestWindow_LeapDayKjennelsesdatoIsStrict(t *testing.T) {
	// 2024-02-29 minus 12 months normalises to 2023-03-01: 2023-02-28 would be more than 12 months.
	k := civil.MustParse("2024-02-29")
	require.Equal(t, civil.MustParse("2023-03-01"), EarliestFromDate(k))
	require.Error(t, CheckWindow(civil.Period{From: civil.MustParse("2023-02-28"), To: civil.MustParse("2024-03-01")}, k))
	require.NoError(t, CheckWindow(civil.Period{From: civil.MustParse("2023-03-01"), To: civil.MustParse("2024-03-01")}, k))
}
