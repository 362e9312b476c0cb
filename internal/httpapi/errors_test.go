package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/oed"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// TestProblemFor_OneTableFromErrorToStatusCodeAndReason states, row by row, what each error of
// the request path answers and what the audit log records (konkursbehandling-rules.md §6).
// Errors arrive wrapped, as the layers return them.
func TestProblemFor_OneTableFromErrorToStatusCodeAndReason(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("layer: %w", err) }
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
		reason string
	}{
		{"method", errMethod, 405, "ACC-012", "method"},
		{"route", errRoute, 400, "ACC-001", "route"},
		{"query", errQuery, 400, "ACC-001", "query"},
		{"too many headers", errTooManyHeaders, 400, "ACC-001", "headers"},
		{"Accept", errNotAcceptable, 406, "ACC-013", "accept"},
		{"rate limit", errTooManyReqs, 429, "ACC-022", "rate-limit"},
		{"audit write", errAuditWrite, 503, "ACC-100", "audit-write"},
		{"Cards", errNotInService(dsopservice.Cards, dsopservice.Konkursbehandling()), 400, "ACC-001", "endpoint-not-in-service"},
		{"unknown mandate", wrap(&dsopservice.RouteError{Err: dsopservice.ErrMandate}), 400, "ACC-001", "param:Legal-Mandate"},
		{"consumer of another service", wrap(&dsopservice.RouteError{Err: dsopservice.ErrConsumerForMandate, Service: "Oppgjør etter dødsfall"}), 403, "ACC-011", "consumer"},
		{"not deceased", wrap(oed.NotDeceasedError{}), 403, "ACC-011", "not-deceased"},
		{"token refused", wrap(&validation.TokenError{Reason: "expired", Message: "m"}), 401, "ACC-010", "token:expired"},
		{"token forbidden", wrap(&validation.TokenError{Reason: "scope", Message: "m", Forbidden: true}), 403, "ACC-011", "token:scope"},
		{"parameter", wrap(&validation.ParamError{Param: "PartyID", Message: "m"}), 400, "ACC-001", "param:PartyID"},
		{"not bankrupt", wrap(&konkursbehandling.RefusedError{State: konkursvarsel.DebtorState{Status: konkursvarsel.StatusAnnulled}}), 403, "ACC-011", "not-bankrupt:annulled"},
		{"window", wrap(&konkursbehandling.WindowError{FromDate: civil.MustParse("2017-06-07")}), 400, "ACC-001", "window"},
		{"unknown account", wrap(accounts.ErrAccountNotFound), 404, "ACC-002", "account-not-found"},
		{"cursor", wrap(accounts.ErrBadCursor), 400, "ACC-001", "cursor"},
		{"missing header", &RequiredHeaderError{ParamName: "CorrelationID"}, 400, "ACC-001", "param:CorrelationID"},
		{"missing query", &RequiredParamError{ParamName: "OnlyPrimaryOwner"}, 400, "ACC-001", "param:OnlyPrimaryOwner"},
		{"bad format", &InvalidParamFormatError{ParamName: "page", Err: errors.New("x")}, 400, "ACC-001", "param:page"},
		{"repeated", &TooManyValuesForParamError{ParamName: "PartyID"}, 400, "ACC-001", "param:PartyID"},
		{"unmarshal", &UnmarshalingParamError{ParamName: "fromDate", Err: errors.New("x")}, 400, "ACC-001", "param:fromDate"},
		{"deadline", wrap(context.DeadlineExceeded), 503, "ACC-100", "timeout"},
		{"overloaded", errOverloaded, 503, "ACC-100", "overloaded"},
		{"a dependency's fault", errors.New("connection reset by peer"), 503, "ACC-100", "unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := problemFor(tc.err)
			require.Equal(t, tc.status, p.Status)
			require.Equal(t, tc.code, p.Code)
			require.Equal(t, tc.reason, p.Reason)
			require.NotEmpty(t, p.Message)
			require.NotEmpty(t, http.StatusText(p.Status))
		})
	}
}
