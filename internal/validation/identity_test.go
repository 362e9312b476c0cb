package validation

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParsePartyID_AcceptsEveryDebitorOfTheTestNotices(t *testing.T) {
	for id, kind := range map[string]PartyKind{
		"910375237": Organisation, "910336819": Organisation, "910425463": Organisation, "910491482": Organisation,
		"910018469": Organisation, "974760673": Organisation,
		"08086001471": Person, "08086002265": Person, "19020101140": Person, "20020101351": Person, "21097400153": Person,
	} {
		got, err := ParsePartyID(id)
		require.NoError(t, err, id)
		require.Equal(t, kind, got, id)
	}
}

func TestParsePartyID_Refusals(t *testing.T) {
	for _, id := range []string{
		"", "1", "91033681", "9103368190", "910336818", // org: length, check digit
		"08086001472", "08086001481", // FNR check digits
		"00086001471", "32086001471", "08136001471", // impossible day/month
		"91033681a", "0808600147 ", "+10336819", "08086001471\n",
		"０８０８６００１４７１", // full-width digits
	} {
		_, err := ParsePartyID(id)
		require.Error(t, err, "%q", id)
	}
}

func TestParsePartyID_DNumberAndSyntheticIdentities(t *testing.T) {
	for name, id := range map[string]string{"D-number": "48086000086", "synthetic +80": "08886000058", "synthetic +40": "08486000075"} {
		k, err := ParsePartyID(id)
		require.NoError(t, err, name)
		require.Equal(t, Person, k, name)
	}
}

func TestMask_HidesAllButTheBirthDate(t *testing.T) {
	require.Equal(t, "080860*****", Mask("08086001471"))
	require.Equal(t, "910336819", Mask("910336819"))
}

func FuzzParsePartyID(f *testing.F) {
	for _, s := range []string{"910336819", "08086001471", "", "abc", "48086001471", "99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePartyID(s)
		if err != nil {
			return
		}
		// Anything accepted is 9 or 11 ASCII digits of the matching kind.
		require.True(t, allDigits(s))
		require.True(t, (len(s) == 9 && k == Organisation) || (len(s) == 11 && k == Person))
	})
}
