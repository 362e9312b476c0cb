// Package civil is a calendar date without time or zone, as the standard uses for fromDate,
// toDate, kjennelsesdato and the ownership periods of the bank data ("YYYY-MM-DD").
package civil

import (
	"encoding/json"
	"fmt"
	"time"
)

// Date is a calendar date. The zero value is "no date".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// Parse reads a strict ISO 8601 calendar date (YYYY-MM-DD); it refuses anything else, including
// dates that do not exist such as 2024-02-30.
func Parse(s string) (Date, error) {
	if len(s) != 10 {
		return Date{}, fmt.Errorf("%q is not a date in the form YYYY-MM-DD", s)
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date in the form YYYY-MM-DD", s)
	}
	return Of(t), nil
}

// MustParse is Parse for constants in code and tests.
func MustParse(s string) Date {
	d, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Of returns the date of t in t's location.
func Of(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// Today is the calendar date of now in loc (the standard's "today" is Norwegian time).
func Today(now time.Time, loc *time.Location) Date { return Of(now.In(loc)) }

// IsZero reports whether d is the zero value.
func (d Date) IsZero() bool { return d == Date{} }

// String formats d as YYYY-MM-DD.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// In returns the start of d in loc.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// AddDate works as time.Time.AddDate: 2024-02-29 minus one year normalises to 2023-03-01.
func (d Date) AddDate(years, months, days int) Date {
	return Of(d.In(time.UTC).AddDate(years, months, days))
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.In(time.UTC).Before(e.In(time.UTC)) }

// After reports whether d is after e.
func (d Date) After(e Date) bool { return e.Before(d) }

// Compare returns -1, 0 or +1.
func (d Date) Compare(e Date) int { return d.In(time.UTC).Compare(e.In(time.UTC)) }

// MarshalJSON writes "YYYY-MM-DD" (or null for the zero date).
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(d.String())
}

// UnmarshalJSON reads "YYYY-MM-DD" or null.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("date: %w", err)
	}
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Period is an inclusive range of dates; a zero To means "still ongoing".
type Period struct {
	From Date
	To   Date
}

// Overlaps reports whether p shares at least one day with [from, to] (both inclusive).
func (p Period) Overlaps(from, to Date) bool {
	if !p.From.IsZero() && p.From.After(to) {
		return false
	}
	if !p.To.IsZero() && p.To.Before(from) {
		return false
	}
	return true
}

// Intersect returns the days p shares with [from, to] (both inclusive) as a closed period, and
// false when they share none.
func (p Period) Intersect(from, to Date) (Period, bool) {
	if !p.Overlaps(from, to) {
		return Period{}, false
	}
	out := Period{From: from, To: to}
	if !p.From.IsZero() && p.From.After(from) {
		out.From = p.From
	}
	if !p.To.IsZero() && p.To.Before(to) {
		out.To = p.To
	}
	return out, true
}

// String formats p as "FROM/TO" (ISO 8601 interval); an open end is written "..".
func (p Period) String() string {
	to := p.To.String()
	if to == "" {
		to = ".."
	}
	return p.From.String() + "/" + to
}
