package dsopservice

import _ "embed"

//go:embed konkursbehandling.csv
var konkursbehandlingCSV string

// Konkursbehandling is the DSOP service of estate administrators in bankruptcy, through
// Brønnøysundregistrene (konkursbehandling-rules.md; services.md row 1): BRREG may see the
// accounts the debtor owned, while it owned them, from 12 months before the bankruptcy ruling
// (kjennelsesdato) until today, once Konkursvarsel shows the bankruptcy open.
func Konkursbehandling() Service {
	return Service{
		Name:             "konkursbehandling",
		Title:            "Konkursbehandling",
		Consumers:        []string{"0192:974760673"}, // Brønnøysundregistrene
		Mandates:         []string{"kkl. §156 (3) og (4), jf. kkfor.§21"},
		Scopes:           []string{"bits:kontoinformasjon"},
		Endpoints:        []Endpoint{Accounts, Account, Transactions}, // Cards, Roles → 400 ACC-001
		OnlyPrimaryOwner: []string{"TRUE"},
		Window:           Window{Anchor: AnchorKjennelsesdato, LookBack: Period{Months: 12}},
		Gate:             GateBankruptcy,
		Delivery:         konkursbehandlingCSV,
		Source:           "dsop_v2konkurs_løsningsbeskrivelse.md",
	}
}
