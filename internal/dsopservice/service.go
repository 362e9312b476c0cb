// Package dsopservice says what a DSOP service on the Control API v2 is (services.md): the
// agencies that may call it, its legal mandates, its endpoints, its window, the optional
// headers it needs, the gate before any data leaves, and its field-delivery table. Each service
// is declared in one file of this package (konkursbehandling.go, oed.go) with one delivery CSV;
// the HTTP layer routes every request to one service by (token consumer.ID, decoded
// Legal-Mandate) and reads everything service-specific from the value it picked.
//
// The package is a leaf: it imports nothing of dsop-bank but civil dates.
package dsopservice

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

// Endpoint names an endpoint of the Control API v2, as the delivery tables' first column does
// for the three that deliver data.
type Endpoint string

// The five endpoints of the Control API v2.
const (
	Accounts     Endpoint = "accounts"
	Account      Endpoint = "account" // account details
	Transactions Endpoint = "transactions"
	Cards        Endpoint = "cards"
	Roles        Endpoint = "roles"
)

// Anchor is the date a service's window is counted back from.
type Anchor string

// The anchors of the services built so far.
const (
	AnchorKjennelsesdato Anchor = "kjennelsesdato" // the bankruptcy ruling (Konkursvarsel)
	AnchorDateOfDeath    Anchor = "date of death"  // from the bank's data
	AnchorToday          Anchor = "today"
)

// Window is how far back a request may reach: fromDate no earlier than the anchor less
// LookBack (calendar arithmetic, Europe/Oslo dates); toDate is checked with the other parameters
// (today at the latest).
type Window struct {
	Anchor   Anchor
	LookBack Period
}

// Period is a calendar look-back.
type Period struct{ Years, Months, Days int }

func (p Period) String() string {
	var parts []string
	for _, u := range []struct {
		n    int
		unit string
	}{{p.Years, "year"}, {p.Months, "month"}, {p.Days, "day"}} {
		switch {
		case u.n == 1:
			parts = append(parts, "1 "+u.unit)
		case u.n > 1:
			parts = append(parts, fmt.Sprintf("%d %ss", u.n, u.unit))
		}
	}
	if len(parts) == 0 {
		return "0 days"
	}
	return strings.Join(parts, " ")
}

// Earliest is the earliest fromDate the window allows for an anchor date. A 29 February anchor
// less a year gives 1 March (time.AddDate normalisation): the strict reading, never a day more.
func (w Window) Earliest(anchor civil.Date) civil.Date {
	return anchor.AddDate(-w.LookBack.Years, -w.LookBack.Months, -w.LookBack.Days)
}

// Gate names the precondition a party must meet before any of its data leaves.
type Gate string

// The gates of the services built so far.
const (
	GateBankruptcy Gate = "bankruptcy" // an open bankruptcy per Konkursvarsel
	GateDeceased   Gate = "deceased"   // the party is dead, per the bank's data
	GateNone       Gate = "none"       // tests only
)

// Service is one DSOP service on the Control API v2.
type Service struct {
	// Name is the service's key: DSOP_SERVICES, audit records, metrics, --service.
	Name string
	// Title is how messages name it.
	Title string
	// Consumers are the accepted consumer.ID values of the token ("0192:" + organisation number).
	Consumers []string
	// Mandates are the accepted Legal-Mandate texts, decoded; compared after white-space
	// normalisation (NormalizeMandate).
	Mandates []string
	// Scopes the token must carry (all services: bits:kontoinformasjon).
	Scopes []string
	// Endpoints are those the service may use; the others are refused with 400 ACC-001.
	Endpoints []Endpoint
	// OnlyPrimaryOwner lists the allowed values, upper case ("TRUE", "FALSE").
	OnlyPrimaryOwner []string
	Window           Window
	// RequiredHeaders are the optional headers of the standard that this service requires.
	RequiredHeaders []string
	Gate            Gate
	// Delivery is the field-delivery table (CSV, in the columns of konkursbehandling.csv).
	Delivery string
	// Source is the solution page the service is restated from.
	Source string
}

// Allows reports whether the service may use an endpoint.
func (s Service) Allows(e Endpoint) bool { return slices.Contains(s.Endpoints, e) }

// AcceptsConsumer reports whether a token's consumer.ID may call the service.
func (s Service) AcceptsConsumer(id string) bool { return slices.Contains(s.Consumers, id) }

// AcceptsMandate reports whether a decoded Legal-Mandate is one of the service's.
func (s Service) AcceptsMandate(decoded string) bool {
	n := NormalizeMandate(decoded)
	for _, m := range s.Mandates {
		if NormalizeMandate(m) == n {
			return true
		}
	}
	return false
}

// AllowsOnlyPrimaryOwner reports whether an OnlyPrimaryOwner value (any case) is allowed.
func (s Service) AllowsOnlyPrimaryOwner(v string) bool {
	return slices.Contains(s.OnlyPrimaryOwner, strings.ToUpper(v))
}

// NormalizeMandate trims a decoded mandate and turns each run of white space (a no-break space
// too) into one space: a consumer's line-wrapped or double-spaced copy names the same law.
func NormalizeMandate(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\u00a0'
	}), " ")
}

// All are the services this build knows, in the order of DSOP_SERVICES' documentation.
func All() []Service { return []Service{Konkursbehandling(), OED()} }

// Routing refusals (services.md "Why a bank must route").
var (
	// ErrConsumer: no enabled service accepts the token's consumer (403 ACC-011).
	ErrConsumer = errors.New("the consumer is not authorised for any DSOP service at this bank")
	// ErrMandate: no enabled service has this Legal-Mandate (400 ACC-001).
	ErrMandate = errors.New("Legal-Mandate is not the legal basis of a DSOP service at this bank")
	// ErrConsumerForMandate: the mandate's service does not accept the consumer (403 ACC-011).
	ErrConsumerForMandate = errors.New("the consumer is not authorised for the service of this Legal-Mandate")
)

// RouteError is a refusal of Route, with the services that were enabled, for the message.
type RouteError struct {
	Err      error
	Service  string // the mandate's service, for ErrConsumerForMandate
	Mandates []string
}

func (e *RouteError) Error() string {
	switch {
	case errors.Is(e.Err, ErrMandate):
		return fmt.Sprintf("header Legal-Mandate is not the legal basis of a DSOP service at this bank; send the URL-encoded mandate of your service: %s", strings.Join(quote(e.Mandates), " or "))
	case errors.Is(e.Err, ErrConsumerForMandate):
		return fmt.Sprintf("the consumer of the token is not authorised for the DSOP service %s, whose Legal-Mandate was sent", e.Service)
	}
	return e.Err.Error()
}

func (e *RouteError) Unwrap() error { return e.Err }

func quote(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// Registry holds the enabled services.
type Registry struct{ services []Service }

// NewRegistry enables the named services (DSOP_SERVICES) among known; it refuses an unknown
// name, a name given twice, and two services that share a (consumer, mandate) pair, which would
// make routing ambiguous.
func NewRegistry(known []Service, names ...string) (*Registry, error) {
	r := &Registry{}
	for _, n := range names {
		i := slices.IndexFunc(known, func(s Service) bool { return s.Name == n })
		switch {
		case i < 0:
			return nil, fmt.Errorf("unknown DSOP service %q (known: %s)", n, strings.Join(namesOf(known), ", "))
		case slices.ContainsFunc(r.services, func(s Service) bool { return s.Name == n }):
			return nil, fmt.Errorf("DSOP service %q is listed twice", n)
		}
		for _, other := range r.services {
			for _, m := range known[i].Mandates {
				if other.AcceptsMandate(m) {
					for _, c := range known[i].Consumers {
						if other.AcceptsConsumer(c) {
							return nil, fmt.Errorf("DSOP services %s and %s share consumer %s and a mandate: requests could not be routed", other.Name, n, c)
						}
					}
				}
			}
		}
		r.services = append(r.services, known[i])
	}
	if len(r.services) == 0 {
		return nil, errors.New("no DSOP service is enabled")
	}
	return r, nil
}

func namesOf(ss []Service) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name
	}
	return out
}

// Services returns the enabled services.
func (r *Registry) Services() []Service { return slices.Clone(r.services) }

// Consumers are the consumer.ID values that some enabled service accepts.
func (r *Registry) Consumers() []string {
	var out []string
	for _, s := range r.services {
		for _, c := range s.Consumers {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// Route picks the service of a request from the token's consumer.ID and the decoded
// Legal-Mandate, in the order of the issue that introduced it (#30): a consumer that no enabled
// service accepts, a mandate that none has, a mandate whose service does not accept the consumer.
func (r *Registry) Route(consumer, decodedMandate string) (Service, error) {
	if !slices.ContainsFunc(r.services, func(s Service) bool { return s.AcceptsConsumer(consumer) }) {
		return Service{}, &RouteError{Err: ErrConsumer}
	}
	var mandates []string
	var byMandate []Service
	for _, s := range r.services {
		if s.AcceptsConsumer(consumer) {
			mandates = append(mandates, s.Mandates...)
		}
		if s.AcceptsMandate(decodedMandate) {
			byMandate = append(byMandate, s)
		}
	}
	if len(byMandate) == 0 {
		return Service{}, &RouteError{Err: ErrMandate, Mandates: mandates}
	}
	for _, s := range byMandate {
		if s.AcceptsConsumer(consumer) {
			return s, nil
		}
	}
	return Service{}, &RouteError{Err: ErrConsumerForMandate, Service: byMandate[0].Title}
}

// Default is the service named when a tool is given none (the conformance kit, the demo).
func (r *Registry) Default() Service { return r.services[0] }

// Lookup finds an enabled service by name.
func (r *Registry) Lookup(name string) (Service, bool) {
	i := slices.IndexFunc(r.services, func(s Service) bool { return s.Name == name })
	if i < 0 {
		return Service{}, false
	}
	return r.services[i], true
}
