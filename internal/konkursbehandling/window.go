package konkursbehandling

import (
	"fmt"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

// WindowError is a fromDate earlier than the service allows: 400 ACC-001
// (konkursbehandling-rules.md §6), recorded with the reason "window" so that the audit log's
// anomaly report can find it.
type WindowError struct {
	FromDate, Kjennelsesdato, Earliest civil.Date
}

func (e *WindowError) Error() string {
	return fmt.Sprintf("fromDate %s is more than 12 months before the bankruptcy date (kjennelsesdato %s); the earliest allowed fromDate is %s",
		e.FromDate, e.Kjennelsesdato, e.Earliest)
}

// EarliestFromDate is kjennelsesdato minus 12 months in calendar arithmetic. A kjennelsesdato of
// 29 February gives 1 March of the year before (time.AddDate normalisation): the strict reading,
// never a day more than twelve months.
func EarliestFromDate(kjennelsesdato civil.Date) civil.Date {
	return kjennelsesdato.AddDate(-1, 0, 0)
}

// CheckWindow refuses a fromDate earlier than 12 months before the debtor's kjennelsesdato
// (konkursbehandling-rules.md §3.4, §5.2 item 4). toDate is checked with the other parameters
// (internal/validation): it depends on today, not on the bankruptcy.
func CheckWindow(p civil.Period, kjennelsesdato civil.Date) error {
	earliest := EarliestFromDate(kjennelsesdato)
	if p.From.Before(earliest) {
		return &WindowError{FromDate: p.From, Kjennelsesdato: kjennelsesdato, Earliest: earliest}
	}
	return nil
}
