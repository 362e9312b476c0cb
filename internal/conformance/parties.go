package conformance

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// NeverNotified is a valid organisation number that no bankruptcy notice names and no demo
// bank account belongs to: NAV's.
const NeverNotified = "889640782"

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
			open = append(open, Party{ID: debitor, Anchor: st.Kjennelsesdato})
		} else {
			refused = append(refused, debitor)
		}
	}
	sort.Slice(open, func(i, j int) bool { return open[i].ID < open[j].ID })
	sort.Strings(refused)
	return open, append(refused, NeverNotified), nil
}

// DefaultPartiesFor are the default test parties of a service: Konkursbehandling's are BRREG's
// published test debtors (DefaultParties); OED's are the demo bank's deceased customers (served
// from their date of death) and a living customer with accounts, plus one the bank does not know
// (refused).
func DefaultPartiesFor(svc dsopservice.Service) (open []Party, refused []string, err error) {
	if svc.Gate != dsopservice.GateDeceased {
		return DefaultParties()
	}
	bd, err := accounts.DecodeBankData(demo.BankData())
	if err != nil {
		return nil, nil, err
	}
	owners := map[string]bool{}
	for _, a := range bd.Accounts {
		for _, r := range a.Roles {
			owners[r.PartyID] = owners[r.PartyID] || r.Role == accounts.RolePrimaryOwner
		}
	}
	for _, p := range bd.Parties {
		switch {
		case !p.DateOfDeath.IsZero():
			open = append(open, Party{ID: p.ID, Anchor: p.DateOfDeath})
		case len(p.ID) == 11 && owners[p.ID] && len(refused) == 0:
			refused = append(refused, p.ID) // a living person with accounts
		}
	}
	return open, append(refused, NeverNotified), nil
}

// ParseParties reads "ID:YYYY-MM-DD" items (PartyID and the date its service's window counts
// from: kjennelsesdato, date of death), comma-separated.
func ParseParties(s string) ([]Party, error) {
	var out []Party
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		id, date, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("party %q: write PartyID:date (kjennelsesdato, or date of death for OED), e.g. 910336819:2018-06-08", item)
		}
		if _, err := validation.ParsePartyID(id); err != nil {
			return nil, fmt.Errorf("party %q: %v", item, err)
		}
		k, err := civil.Parse(date)
		if err != nil {
			return nil, fmt.Errorf("party %q: date: %v", item, err)
		}
		out = append(out, Party{ID: id, Anchor: k})
	}
	return out, nil
}
