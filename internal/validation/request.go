package validation

import "github.com/dsop-bank/dsop-bank/internal/civil"

// Headers are the request inputs shared by every endpoint, as received.
type Headers struct {
	AccountInfoRequestID      string
	CorrelationID             string
	LegalMandate              string
	AdditionalReferenceID     string
	AdditionalReferenceIDType string
	RequesterID               string
	FromDate                  *string
	ToDate                    *string
}

// Request is a request whose shared inputs passed the format checks.
type Request struct {
	AccountInfoRequestID string
	CorrelationID        string
	// LegalMandate is the decoded text, as the audit log records it.
	LegalMandate              string
	AdditionalReferenceID     string
	AdditionalReferenceIDType string
	RequesterID               string
	Period                    Period
}

// Rules are the bank's choices where the standard leaves room.
type Rules struct {
	ToDate ToDatePolicy
}

// Check validates the shared inputs in the order of konkursbehandling-rules.md §6 (headers, then
// mandate, then dates). AdditionalReferenceID(Type) and RequesterID carry no data for
// Konkursbehandling: they are kept for the log and otherwise ignored (§3.2).
func (r Rules) Check(h Headers, today civil.Date) (Request, error) {
	if err := CheckUUID("AccountInfoRequestID", h.AccountInfoRequestID); err != nil {
		return Request{}, err
	}
	if err := CheckUUID("CorrelationID", h.CorrelationID); err != nil {
		return Request{}, err
	}
	mandate, err := CheckMandate(h.LegalMandate)
	if err != nil {
		return Request{}, err
	}
	from, err := ParseDateParam("fromDate", h.FromDate)
	if err != nil {
		return Request{}, err
	}
	to, err := ParseDateParam("toDate", h.ToDate)
	if err != nil {
		return Request{}, err
	}
	p, err := CheckPeriod(from, to, today, r.ToDate)
	if err != nil {
		return Request{}, err
	}
	return Request{
		AccountInfoRequestID:      h.AccountInfoRequestID,
		CorrelationID:             h.CorrelationID,
		LegalMandate:              mandate,
		AdditionalReferenceID:     h.AdditionalReferenceID,
		AdditionalReferenceIDType: h.AdditionalReferenceIDType,
		RequesterID:               h.RequesterID,
		Period:                    p,
	}, nil
}
