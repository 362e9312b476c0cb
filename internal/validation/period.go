package validation

import "github.com/dsop-bank/dsop-bank/internal/civil"

// ToDatePolicy says how strictly toDate = "today's date" is read (konkursbehandling-rules.md §3.4).
type ToDatePolicy string

const (
	// ToDateNotInFuture accepts any toDate up to today (Europe/Oslo). Default: the standard only
	// recommends a format check, and a request for an earlier period hands out less, not more.
	ToDateNotInFuture ToDatePolicy = "not-future"
	// ToDateToday requires toDate to be exactly today.
	ToDateToday ToDatePolicy = "today"
)

// CheckPeriod checks the order of the dates and toDate against today.
func CheckPeriod(from, to, today civil.Date, policy ToDatePolicy) (civil.Period, error) {
	if from.After(to) {
		return civil.Period{}, paramErr("fromDate", "fromDate %s is after toDate %s", from, to)
	}
	if to.After(today) {
		return civil.Period{}, paramErr("toDate", "toDate %s is in the future; it must be today's date (%s, Norwegian time) at the latest", to, today)
	}
	if policy == ToDateToday && to != today {
		return civil.Period{}, paramErr("toDate", "toDate must be today's date (%s, Norwegian time)", today)
	}
	return civil.Period{From: from, To: to}, nil
}
