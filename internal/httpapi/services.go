package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// Profile is one enabled DSOP service and what serves it: its decision (gate, window,
// selection), its delivery tables, and optionally its own accounts service (delivered forms
// under its policy) and admission budget.
type Profile struct {
	Service dsopservice.Service
	Decide  Decider
	Policy  Filter
	// Accounts, when set, fetches for this service (its DeliveryPolicy); nil: Deps.Accounts.
	Accounts *accounts.Service
	// Admission, when set, is this service's rate budget; nil: Deps.Admission.
	Admission *Admission
}

// profiles completes the Deps' profiles: without any, the server answers Konkursbehandling
// with Deps.Decide and Deps.Policy (the wiring of one service); the registry they make must
// route every (consumer, mandate) to one service, or NewServer panics — a wiring fault.
func (d *Deps) profiles() (*dsopservice.Registry, map[string]*Profile) {
	if len(d.Services) == 0 {
		d.Services = []Profile{{Service: dsopservice.Konkursbehandling(), Decide: d.Decide, Policy: d.Policy}}
	}
	byName := map[string]*Profile{}
	var svcs []dsopservice.Service
	var names []string
	for i := range d.Services {
		p := &d.Services[i]
		if p.Accounts == nil {
			p.Accounts = d.Accounts
		}
		byName[p.Service.Name] = p
		svcs = append(svcs, p.Service)
		names = append(names, p.Service.Name)
	}
	reg, err := dsopservice.NewRegistry(svcs, names...)
	if err != nil {
		panic("httpapi: " + err.Error())
	}
	return reg, byName
}

// selectService routes an authenticated request to its service by (consumer.ID, decoded
// Legal-Mandate), right after the token (services.md; issue #30): a consumer that no enabled
// service accepts → 403 ACC-011; a missing, undecodable or unknown mandate → 400 ACC-001; a
// mandate whose service does not accept the consumer → 403 ACC-011. Each refusal is recorded.
func (a *api) selectService(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := callOf(r.Context())
		mandate, err := validation.DecodeMandate(r.Header.Get("Legal-Mandate"))
		if err == nil {
			var svc dsopservice.Service
			if svc, err = a.registry.Route(c.claims.ConsumerID, mandate); err == nil {
				c.profile = a.byService[svc.Name]
			}
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// endpointOf is the endpoint of an operation.
func endpointOf(operation string) dsopservice.Endpoint {
	switch operation {
	case "listTransactions":
		return dsopservice.Transactions
	case "listCards":
		return dsopservice.Cards
	case "listRoles":
		return dsopservice.Roles
	case "showAccountById":
		return dsopservice.Account
	}
	return dsopservice.Accounts
}

// label is how a message names an endpoint.
func label(e dsopservice.Endpoint) string {
	if e == dsopservice.Account {
		return "Account details"
	}
	return strings.ToUpper(string(e[:1])) + string(e[1:])
}

// refuseOutsideService answers an endpoint that is not part of the request's service with 400
// ACC-001 before its parameters are read (konkursbehandling-rules.md §2: Cards and Roles for
// Konkursbehandling), and a request without a header the service requires with 400 ACC-001.
func (a *api) refuseOutsideService(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc := callOf(r.Context()).profile.Service
		if e := endpointOf(callOf(r.Context()).operation); !svc.Allows(e) {
			a.fail(w, r, errNotInService(e, svc))
			return
		}
		for _, h := range svc.RequiredHeaders {
			if r.Header.Get(h) == "" {
				a.fail(w, r, badRequest(fmt.Sprintf("header %s is required for %s", h, svc.Title), "param:"+h))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func errNotInService(e dsopservice.Endpoint, svc dsopservice.Service) *Problem {
	var allowed []string
	for _, ok := range svc.Endpoints {
		allowed = append(allowed, label(ok))
	}
	return badRequest(fmt.Sprintf("the %s endpoint is not part of the DSOP service %s; only %s may be used", label(e), svc.Title, strings.Join(allowed, ", ")),
		"endpoint-not-in-service")
}
