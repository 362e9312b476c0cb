package validation

import "fmt"

// PartyKind says which Norwegian register an identity number belongs to.
type PartyKind int

const (
	// Organisation is a 9-digit organisation number from Enhetsregisteret.
	Organisation PartyKind = iota + 1
	// Person is an 11-digit national identity number (FNR) or D-number.
	Person
)

var (
	orgWeights  = []int{3, 2, 7, 6, 5, 4, 3, 2}
	fnrWeights1 = []int{3, 7, 6, 1, 8, 9, 4, 5, 2}
	fnrWeights2 = []int{5, 4, 3, 2, 7, 6, 5, 4, 3, 2}
)

// ParsePartyID checks a PartyID (or a Konkursvarsel debitor): a 9-digit organisation number or an
// 11-digit FNR / D-number, each with valid modulus-11 check digits
// (konkursbehandling-rules.md §3.2). Synthetic test identities (month + 40 or + 80) are accepted.
func ParsePartyID(s string) (PartyKind, error) {
	switch len(s) {
	case 9:
		if !allDigits(s) {
			return 0, fmt.Errorf("PartyID must contain digits only")
		}
		if mod11(s[:8], orgWeights) != int(s[8]-'0') {
			return 0, fmt.Errorf("PartyID %s is not a valid organisation number (check digit)", Mask(s))
		}
		return Organisation, nil
	case 11:
		if !allDigits(s) {
			return 0, fmt.Errorf("PartyID must contain digits only")
		}
		if !plausibleBirthDate(s) {
			return 0, fmt.Errorf("PartyID %s is not a valid national identity number or D-number (date part)", Mask(s))
		}
		if mod11(s[:9], fnrWeights1) != int(s[9]-'0') || mod11(s[:10], fnrWeights2) != int(s[10]-'0') {
			return 0, fmt.Errorf("PartyID %s is not a valid national identity number or D-number (check digits)", Mask(s))
		}
		return Person, nil
	default:
		return 0, fmt.Errorf("PartyID must be an organisation number (9 digits) or a national identity number / D-number (11 digits), got %d characters", len(s))
	}
}

// Mask hides all but the first six characters of an identity number, so that logs and error
// messages never carry a full national identity number. Organisation numbers are public and are
// returned as they are.
func Mask(s string) string {
	if len(s) != 11 {
		return s
	}
	return s[:6] + "*****"
}

// mod11 returns the modulus-11 check digit of digits with weights, or -1 when none exists (a
// remainder that gives 10 makes the number invalid).
func mod11(digits string, weights []int) int {
	sum := 0
	for i, w := range weights {
		sum += int(digits[i]-'0') * w
	}
	k := 11 - sum%11
	switch k {
	case 11:
		return 0
	case 10:
		return -1
	}
	return k
}

func plausibleBirthDate(s string) bool {
	day := int(s[0]-'0')*10 + int(s[1]-'0')
	month := int(s[2]-'0')*10 + int(s[3]-'0')
	if day > 40 { // D-number: 4 added to the first digit
		day -= 40
	}
	switch {
	case month > 80: // synthetic (Tenor) test identities
		month -= 80
	case month > 40: // synthetic identities (NAV / H-numbers)
		month -= 40
	}
	return day >= 1 && day <= 31 && month >= 1 && month <= 12
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
