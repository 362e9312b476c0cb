package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/oed"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// DSOP message codes (kontrollinformasjon-api.md §8.2).
const (
	CodeBadRequest       = "ACC-001"
	CodeNotFound         = "ACC-002"
	CodeUnauthorized     = "ACC-010"
	CodeForbidden        = "ACC-011"
	CodeMethodNotAllowed = "ACC-012"
	CodeNotAcceptable    = "ACC-013"
	CodeTooManyRequests  = "ACC-022"
	CodeInternal         = "ACC-100"
)

// Problem is an error answer: HTTP status, DSOP code, a message that tells the caller what to
// fix, and the short, data-free reason the audit log records (for its searches and the anomaly
// report).
type Problem struct {
	Status  int
	Code    string
	Message string
	Reason  string
}

func (p *Problem) Error() string { return p.Code + ": " + p.Message }

// problemFor is the one table from an error to its answer and audit reason
// (konkursbehandling-rules.md §6). Errors are typed where they arise and mapped only here; the
// Problems of the HTTP layer itself are made by the constructors below, beside the table.
// Anything unknown is the bank's fault: 500 ACC-100, and the detail stays in the log.
func problemFor(err error) *Problem {
	var (
		p     *Problem
		pe    *validation.ParamError
		te    *validation.TokenError
		re    *konkursbehandling.RefusedError
		we    *dsopservice.WindowError
		route *dsopservice.RouteError
		nde   oed.NotDeceasedError
		rhe   *RequiredHeaderError
		rpe   *RequiredParamError
		ipe   *InvalidParamFormatError
		tme   *TooManyValuesForParamError
		upe   *UnmarshalingParamError
		se    *accounts.SourceError
	)
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &te) && te.Forbidden:
		return &Problem{http.StatusForbidden, CodeForbidden, te.Message, "token:" + te.Reason}
	case errors.As(err, &te):
		return &Problem{http.StatusUnauthorized, CodeUnauthorized, te.Message, "token:" + te.Reason}
	case errors.As(err, &pe):
		return badRequest(pe.Message, "param:"+pe.Param)
	case errors.As(err, &re):
		return &Problem{http.StatusForbidden, CodeForbidden, re.Error(), "not-bankrupt:" + string(re.State.Status)}
	case errors.As(err, &we):
		return badRequest(we.Error(), "window")
	case errors.As(err, &route) && errors.Is(err, dsopservice.ErrMandate):
		return badRequest(route.Error(), "param:Legal-Mandate")
	case errors.As(err, &route):
		return &Problem{http.StatusForbidden, CodeForbidden, route.Error(), "consumer"}
	case errors.As(err, &nde):
		return &Problem{http.StatusForbidden, CodeForbidden, nde.Error(), "not-deceased"}
	case errors.Is(err, accounts.ErrAccountNotFound):
		return &Problem{http.StatusNotFound, CodeNotFound, "no account with this accountReference is available for this request; use an accountReference from the Accounts response of the same case", "account-not-found"}
	case errors.Is(err, accounts.ErrBadCursor):
		return badRequest(accounts.ErrBadCursor.Error(), "cursor")
	case errors.As(err, &rhe):
		return badRequest(fmt.Sprintf("header %s is required", rhe.ParamName), "param:"+rhe.ParamName)
	case errors.As(err, &rpe):
		return badRequest(fmt.Sprintf("query parameter %s is required", rpe.ParamName), "param:"+rpe.ParamName)
	case errors.As(err, &ipe):
		return badRequest(fmt.Sprintf("parameter %s has an invalid format", ipe.ParamName), "param:"+ipe.ParamName)
	case errors.As(err, &tme):
		return badRequest(fmt.Sprintf("parameter %s must be given once", tme.ParamName), "param:"+tme.ParamName)
	case errors.As(err, &upe):
		return badRequest(fmt.Sprintf("parameter %s has an invalid format", upe.ParamName), "param:"+upe.ParamName)
	case errors.As(err, &se):
		return &Problem{http.StatusServiceUnavailable, CodeInternal, "technical error at the bank: its core system did not answer as it should just now; retry after the number of seconds in Retry-After", "bank-core:" + se.Reason}
	case errors.Is(err, context.DeadlineExceeded):
		return &Problem{http.StatusServiceUnavailable, CodeInternal, "the bank could not answer in time; the request can be retried", "timeout"}
	}
	// What is left are faults of the bank's own dependencies — the database, a network — not
	// bugs (a panic is errInternal): one answer for all of them, 503 with Retry-After (issue #29),
	// which the real client may retry, never 429.
	return errUnavailable
}

func badRequest(msg, reason string) *Problem {
	return &Problem{http.StatusBadRequest, CodeBadRequest, msg, reason}
}

// The Problems of the HTTP layer itself.
var (
	errMethod         = &Problem{http.StatusMethodNotAllowed, CodeMethodNotAllowed, "only GET is supported by the DSOP Control API", "method"}
	errRoute          = badRequest("unknown endpoint; the DSOP Control API v2 has GET /v2/accounts, /v2/accounts/{accountReference}, …/transactions, …/cards and …/roles", "route")
	errQuery          = badRequest("the query string is not valid URL encoding", "query")
	errTooManyHeaders = badRequest("too many header lines in the request", "headers")
	errNotAcceptable  = &Problem{http.StatusNotAcceptable, CodeNotAcceptable, "Accept must allow application/jose (or application/json in test)", "accept"}
	errTooManyReqs    = &Problem{http.StatusTooManyRequests, CodeTooManyRequests, "too many requests from this consumer; retry after the number of seconds in Retry-After", "rate-limit"}
	errClientRate     = &Problem{http.StatusTooManyRequests, CodeTooManyRequests, "too many refused requests from this address; send a valid Maskinporten token, or retry after the number of seconds in Retry-After", "client-rate"}
	errAuditFull      = &Problem{http.StatusServiceUnavailable, CodeInternal, "the bank cannot record requests at the moment (audit storage nearly full); retry after the number of seconds in Retry-After", "audit-volume"}
	errAnswerMemory   = &Problem{http.StatusServiceUnavailable, CodeInternal, "the bank is answering too much data at once; retry after the number of seconds in Retry-After", "answer-memory"}
	errOverloaded     = &Problem{http.StatusServiceUnavailable, CodeInternal, "the bank is overloaded; retry after the number of seconds in Retry-After", "overloaded"}
	errWithheld       = &Problem{http.StatusInternalServerError, CodeInternal, "technical error at the bank: the answer could not be encrypted, so no data was delivered; it can be retried", "withheld"}
	// A failed audit write is a fault of the bank's storage, answered like every other (issue
	// #29): 503 with Retry-After, never 429, never data.
	errUnavailable = &Problem{http.StatusServiceUnavailable, CodeInternal, "technical error at the bank: its data could not be read just now; retry after the number of seconds in Retry-After", "unavailable"}
	errInternal    = &Problem{http.StatusInternalServerError, CodeInternal, "technical error at the bank; the request can be retried", "internal"}
	errAuditWrite  = &Problem{http.StatusServiceUnavailable, CodeInternal, "the bank could not record the request, so no data was delivered; retry after the number of seconds in Retry-After", "audit-write"}
)

// writeProblem writes an error body: always plain JSON, never encrypted.
func writeProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if p.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1") // every 503 says when to come back
	}
	if p.Status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "GET, HEAD")
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{p.Code, p.Message})
}
