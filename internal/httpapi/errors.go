package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
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

// Problem is an error answer: HTTP status, DSOP code and a message that tells the caller what
// to fix. Errors of the HTTP layer itself (route, method, Accept) are Problems from the start.
type Problem struct {
	Status  int
	Code    string
	Message string
	// reason labels a refusal of the HTTP layer for the audit log (route, method, accept, …).
	reason string
}

func (p *Problem) Error() string { return p.Code + ": " + p.Message }

// problemFor is the one table from an error to its HTTP status and ACC code
// (konkursbehandling-rules.md §6). Errors are typed where they arise and mapped only here.
// Anything unknown is the bank's fault: 500 ACC-100, and the detail stays in the log.
func problemFor(err error) *Problem {
	var (
		p   *Problem
		pe  *validation.ParamError
		te  *validation.TokenError
		re  *konkursvarsel.RefusedError
		rhe *RequiredHeaderError
		rpe *RequiredParamError
		ipe *InvalidParamFormatError
		tme *TooManyValuesForParamError
		upe *UnmarshalingParamError
	)
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &pe):
		return &Problem{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: pe.Message}
	case errors.As(err, &te) && te.Forbidden:
		return &Problem{Status: http.StatusForbidden, Code: CodeForbidden, Message: te.Message}
	case errors.As(err, &te):
		return &Problem{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: te.Message}
	case errors.As(err, &re):
		return &Problem{Status: http.StatusForbidden, Code: CodeForbidden, Message: re.Error()}
	case errors.Is(err, accounts.ErrAccountNotFound):
		return &Problem{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no account with this accountReference is available for this request; use an accountReference from the Accounts response of the same case"}
	case errors.Is(err, accounts.ErrBadCursor):
		return &Problem{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: accounts.ErrBadCursor.Error()}
	case errors.As(err, &rhe):
		return &Problem{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf("header %s is required", rhe.ParamName)}
	case errors.As(err, &rpe):
		return &Problem{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf("query parameter %s is required", rpe.ParamName)}
	case errors.As(err, &ipe):
		return &Problem{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf("parameter %s has an invalid format", ipe.ParamName)}
	case errors.As(err, &tme):
		return &Problem{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf("parameter %s must be given once", tme.ParamName)}
	case errors.As(err, &upe):
		return &Problem{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf("parameter %s has an invalid format", upe.ParamName)}
	case errors.Is(err, context.DeadlineExceeded):
		return &Problem{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "the bank could not answer in time; the request can be retried"}
	}
	return &Problem{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "technical error at the bank; the request can be retried"}
}

// Problems of the HTTP layer.
var (
	errMethod = &Problem{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: "only GET is supported by the DSOP Control API", reason: "method"}
	errRoute  = &Problem{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "unknown endpoint; Konkursbehandling uses GET /v2/accounts, /v2/accounts/{accountReference} and /v2/accounts/{accountReference}/transactions", reason: "route"}
)

func errNotInService(endpoint string) *Problem {
	return &Problem{Status: http.StatusBadRequest, Code: CodeBadRequest, reason: "endpoint-not-in-service", Message: fmt.Sprintf(
		"the %s endpoint is not part of the DSOP service Konkursbehandling; only Accounts, Account details and Transactions may be used", endpoint)}
}

// writeProblem writes an error body: always plain JSON, never encrypted.
func writeProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if p.Status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "GET, HEAD")
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{p.Code, p.Message})
}
