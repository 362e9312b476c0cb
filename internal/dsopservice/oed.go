package dsopservice

import _ "embed"

//go:embed oed.csv
var oedCSV string

// OED is Oppgjør etter dødsfall, the estate settlement of Digdir's Digitalt dødsbo
// (dsop_v2oed_løsningsbeskrivelse.md; services.md row 2): Digdir may see the accounts the
// deceased owned, while they owned them, from 3 months before the date of death until today.
// The bank finds the date of death in its own systems (FREG events it subscribes to); a party
// the bank does not know as deceased is refused. AdditionalReferenceID(Type) and RequesterID
// carry no data.
func OED() Service {
	return Service{
		Name:             "oed",
		Title:            "Oppgjør etter dødsfall",
		Consumers:        []string{"0192:991825827"}, // Digitaliseringsdirektoratet
		Mandates:         []string{"Arveloven § 92 første ledd og § 118, jf. § 88 a, jf. forskrift om Digitalt dødsbo"},
		Scopes:           []string{"bits:kontoinformasjon"},
		Endpoints:        []Endpoint{Accounts, Account, Transactions}, // Roles, Cards → 400 ACC-001
		OnlyPrimaryOwner: []string{"TRUE"},
		Window:           Window{Anchor: AnchorDateOfDeath, LookBack: Period{Months: 3}},
		Gate:             GateDeceased,
		Delivery:         oedCSV,
		Source:           "dsop_v2oed_løsningsbeskrivelse.md",
	}
}
