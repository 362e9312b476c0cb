package konkursbehandling

import (
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
)

// WindowError is a fromDate earlier than the window allows (400 ACC-001); the rule is stated
// with the service (dsopservice.Window).
type WindowError = dsopservice.WindowError

// EarliestFromDate is kjennelsesdato less Konkursbehandling's look-back (12 months, calendar
// arithmetic: a 29 February ruling gives 1 March of the year before, never a day more).
func EarliestFromDate(kjennelsesdato civil.Date) civil.Date {
	return dsopservice.Konkursbehandling().Window.Earliest(kjennelsesdato)
}

// CheckWindow refuses a fromDate earlier than 12 months before the debtor's kjennelsesdato
// (konkursbehandling-rules.md §3.4, §5.2 item 4).
func CheckWindow(p civil.Period, kjennelsesdato civil.Date) error {
	return dsopservice.Konkursbehandling().Window.Check(p, kjennelsesdato)
}
