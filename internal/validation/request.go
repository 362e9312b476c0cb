package validation

import (
	"net/url"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

// Input is what every endpoint of the service receives, as received. AdditionalReferenceID(Type)
// and RequesterID carry nothing for Konkursbehandling and OED: a service that needs one names it
// (dsopservice.Service.RequiredHeaders, checked when the request is routed), and the audit log
// records them from the request itself.
type Input struct {
	AccountInfoRequestID string
	CorrelationID        string
	LegalMandate         string
	FromDate             *string
	ToDate               *string
}

// AccountsInput is step 2a's request as received, with what its service allows.
type AccountsInput struct {
	Input
	PartyID          string
	OnlyPrimaryOwner string
	// Allowed OnlyPrimaryOwner values (upper case) and the service's title, for the messages.
	AllowedOnlyPrimaryOwner []string
	Service                 string
}

// Request is a request whose inputs passed every check of this package.
type Request struct {
	// LegalMandate is the decoded text, as the audit log records it.
	LegalMandate string
	Period       civil.Period
}

// AccountsRequest is a step 2a request that passed every check of this package.
type AccountsRequest struct {
	Request
	PartyID string
}

// Rules are the bank's choices where the standard leaves room.
type Rules struct {
	ToDate ToDatePolicy
}

// CheckAccounts is the one request check of step 2a (GET /v2/accounts), in the order of
// konkursbehandling-rules.md §6: the format of every parameter (UUIDs, PartyID,
// OnlyPrimaryOwner, dates). The mandate was checked when the request was routed to its service;
// what depends on the party (the window) is the decision's.
func (r Rules) CheckAccounts(in AccountsInput, today civil.Date) (AccountsRequest, error) {
	if err := checkIDs(in.Input); err != nil {
		return AccountsRequest{}, err
	}
	if _, err := CheckPartyID(in.PartyID); err != nil {
		return AccountsRequest{}, err
	}
	if err := CheckOnlyPrimaryOwner(in.OnlyPrimaryOwner, in.AllowedOnlyPrimaryOwner, in.Service); err != nil {
		return AccountsRequest{}, err
	}
	req, err := r.checkPeriodAndMandate(in.Input, today)
	return AccountsRequest{Request: req, PartyID: in.PartyID}, err
}

// CheckAccount is the one request check of step 2b (Account details and Transactions), in the
// order of konkursbehandling-rules.md §6. The accountReference is resolved by the decision.
func (r Rules) CheckAccount(in Input, today civil.Date) (Request, error) {
	if err := checkIDs(in); err != nil {
		return Request{}, err
	}
	return r.checkPeriodAndMandate(in, today)
}

func checkIDs(in Input) error {
	if err := CheckUUID("AccountInfoRequestID", in.AccountInfoRequestID); err != nil {
		return err
	}
	return CheckUUID("CorrelationID", in.CorrelationID)
}

func (r Rules) checkPeriodAndMandate(in Input, today civil.Date) (Request, error) {
	from, err := ParseDateParam("fromDate", in.FromDate)
	if err != nil {
		return Request{}, err
	}
	to, err := ParseDateParam("toDate", in.ToDate)
	if err != nil {
		return Request{}, err
	}
	p, err := CheckPeriod(from, to, today, r.ToDate)
	if err != nil {
		return Request{}, err
	}
	mandate, err := DecodeMandate(in.LegalMandate)
	if err != nil {
		return Request{}, err
	}
	return Request{LegalMandate: mandate, Period: p}, nil
}

// OnlyPrimaryOwner returns the OnlyPrimaryOwner query parameter and the spelling it came under.
// The schema names it OnlyPrimaryOwner; the standard's prose writes onlyPrimaryOwner, and a
// consumer following the prose must not be refused over the case of one letter
// (kontrollinformasjon-api.md §13 item 7). The schema's spelling wins when both are sent.
func OnlyPrimaryOwner(q url.Values) (value, name string, ok bool) {
	for _, name := range []string{"OnlyPrimaryOwner", "onlyPrimaryOwner"} {
		if q.Has(name) {
			return q.Get(name), name, true
		}
	}
	return "", "", false
}
