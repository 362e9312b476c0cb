package conformance

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// NeverNotified is a valid organisation number that no bankruptcy notice names: BRREG itself.
const NeverNotified = "974760673"

// DefaultParties are the debtors of BRREG's published Konkursvarsel test notices
// (testdata/konkursvarsel-testdata.json, embedded as the demo notices): those whose bankruptcy
// is open, each with the demo kjennelsesdato (the test table has none: the date of the aapning's
// registreringstidspunkt), and those the bank must refuse — annulled, reversed or closed, plus
// one never notified.
func DefaultParties() (open []Party, refused []string, err error) {
	list, _, err := konkursvarsel.ParseList(demo.Konkursvarsler())
	if err != nil {
		return nil, nil, err
	}
	byDebitor := map[string][]konkursvarsel.Notice{}
	for _, n := range list {
		byDebitor[n.Debitor] = append(byDebitor[n.Debitor], n)
	}
	for debitor, ns := range byDebitor {
		st := konkursvarsel.Derive(debitor, ns)
		if st.Status == konkursvarsel.StatusOpen {
			open = append(open, Party{ID: debitor, Kjennelsesdato: st.Kjennelsesdato})
		} else {
			refused = append(refused, debitor)
		}
	}
	sort.Slice(open, func(i, j int) bool { return open[i].ID < open[j].ID })
	sort.Strings(refused)
	return open, append(refused, NeverNotified), nil
}

// ParseParties reads "ID:YYYY-MM-DD" items (PartyID and kjennelsesdato), comma-separated.
func ParseParties(s string) ([]Party, error) {
	var out []Party
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		id, date, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("party %q: write PartyID:kjennelsesdato, e.g. 910336819:2018-06-08", item)
		}
		if _, err := validation.ParsePartyID(id); err != nil {
			return nil, fmt.Errorf("party %q: %v", item, err)
		}
		k, err := civil.Parse(date)
		if err != nil {
			return nil, fmt.Errorf("party %q: kjennelsesdato: %v", item, err)
		}
		out = append(out, Party{ID: id, Kjennelsesdato: k})
	}
	return out, nil
}
