package compliance_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/compliance"
)

func presenter(t *testing.T, secret string) *compliance.Presenter {
	p, err := compliance.NewPresenter([]byte(secret), nil)
	require.NoError(t, err)
	return p
}

// Two numbers that share the mask's six digits never look alike (issue #26, finding 8), and the
// pseudonym depends on the server secret, so it cannot be computed for candidate numbers.
func TestPresenter_MasksAreCollisionFreeAndKeyed(t *testing.T) {
	p := presenter(t, "0123456789abcdef0123456789abcdef")
	a, b := p.Mask("08086001471"), p.Mask("08086002265")
	require.Regexp(t, `^080860\*\*\*\*\* ~[a-z2-9]{6}$`, a)
	require.NotEqual(t, a, b)
	require.Equal(t, a, p.Mask("08086001471"), "stable")
	require.NotEqual(t, a, presenter(t, "another secret of thirty-two byte").Mask("08086001471"), "keyed")
	require.Equal(t, "910336819", p.Mask("910336819"), "organisation numbers are no personal data")
	require.Equal(t, "party "+a+" and "+b, p.MaskText("party 08086001471 and 08086002265"))
}

func TestPresenter_PartyReferencesAreSealed(t *testing.T) {
	p := presenter(t, "0123456789abcdef0123456789abcdef")
	ref := p.PartyRef("08086001471")
	require.NotContains(t, ref, "080860")
	got, err := p.OpenPartyRef(ref)
	require.NoError(t, err)
	require.Equal(t, "08086001471", got)
	_, err = presenter(t, "another secret of thirty-two byte").OpenPartyRef(ref)
	require.ErrorIs(t, err, compliance.ErrBadPartyRef, "another bank's reference")
	_, err = p.OpenPartyRef(ref[:len(ref)-2] + "AA")
	require.ErrorIs(t, err, compliance.ErrBadPartyRef, "a forged reference")
}

func TestPresenter_TimesInOsloWithTheOffsetExportsInUTC(t *testing.T) {
	p := presenter(t, "0123456789abcdef0123456789abcdef")
	winter, summer := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	require.Equal(t, "2026-12-03 10:00:00 +01:00", p.Time(winter))
	require.Equal(t, "2026-07-01 11:00:00 +02:00", p.Time(summer))
	require.Equal(t, "2026-12-03T09:00:00Z", compliance.ExportTime(winter))
}
