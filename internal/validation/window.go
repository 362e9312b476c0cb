package validation

import (
	"fmt"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

// ToDatePolicy says how strictly toDate = "today's date" is read (konkursbehandling-rules.md §3.4).
type ToDatePolicy string

const (
	// ToDateNotInFuture accepts any toDate up to today (Europe/Oslo). Default: the standard only
	// recommends a format check, and a request for an earlier period hands out less, not more.
	ToDateNotInFuture ToDatePolicy = "not-future"
	// ToDateToday requires toDate to be exactly today.
	ToDateToday ToDatePolicy = "today"
)

// Period is a validated request period, both dates inclusive.
type Period struct {
	From civil.Date
	To   civil.Date
}

// CheckPeriod checks the order of the dates and toDate against today.
func CheckPeriod(from, to, today civil.Date, policy ToDatePolicy) (Period, error) {
	if from.After(to) {
		return Period{}, paramErr("fromDate", "fromDate %s is after toDate %s", from, to)
	}
	if to.After(today) {
		return Period{}, paramErr("toDate", "toDate %s is in the future; it must be today's date (%s, Norwegian time) at the latest", to, today)
	}
	if policy == ToDateToday && to != today {
		return Period{}, paramErr("toDate", "toDate must be today's date (%s, Norwegian time)", today)
	}
	return Period{From: from, To: to}, nil
}

// EarliestFromDate is kjennelsesdato minus 12 months in calendar arithmetic. A kjennelsesdato of
// 29 February gives 1 March of the year before (time.AddDate normalisation): the strict reading,
// never a day more than twelve months.
func EarliestFromDate(kjennelsesdato civil.Date) civil.Date {
	return kjennelsesdato.AddDate(-1, 0, 0)
}

// CheckWindow refuses a fromDate earlier than 12 months before the debtor's kjennelsesdato
// (konkursbehandling-rules.md §3.4, §5.2 item 4).
func CheckWindow(p Period, kjennelsesdato civil.Date) error {
	earliest := EarliestFromDate(kjennelsesdato)
	if p.From.Before(earliest) {
		return &ParamError{Param: "fromDate", Window: true, Message: fmt.Sprintf(
			"fromDate %s is more than 12 months before the bankruptcy date (kjennelsesdato %s); the earliest allowed fromDate is %s",
			p.From, kjennelsesdato, earliest)}
	}
	return nil
}
