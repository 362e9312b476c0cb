package dsopservice

import (
	"fmt"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

// WindowError is a fromDate earlier than the service's window allows: 400 ACC-001
// (konkursbehandling-rules.md §6; the same for every service), recorded with the reason
// "window" so that the audit log's anomaly report can find it.
type WindowError struct {
	Window             Window
	FromDate, Anchored civil.Date // Anchored: the anchor's date (kjennelsesdato, date of death)
	Earliest           civil.Date
}

func (e *WindowError) Error() string {
	return fmt.Sprintf("fromDate %s is more than %s before the %s %s; the earliest allowed fromDate is %s",
		e.FromDate, e.Window.LookBack, e.Window.Anchor, e.Anchored, e.Earliest)
}

// Check refuses a period whose fromDate is earlier than the window allows for the anchor date.
// toDate is checked with the other parameters: it depends on today, not on the anchor.
func (w Window) Check(p civil.Period, anchored civil.Date) error {
	earliest := w.Earliest(anchored)
	if p.From.Before(earliest) {
		return &WindowError{Window: w, FromDate: p.From, Anchored: anchored, Earliest: earliest}
	}
	return nil
}
