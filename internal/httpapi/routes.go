// Package httpapi is the HTTP layer of the DSOP Control API v2: routing, the order of the checks
// (method → route → token → endpoint allowed → parameters → mandate → bankruptcy → window →
// accountReference → data, konkursbehandling-rules.md §6), the mapping of errors to ACC codes
// (errors.go) and the encoding of answers. The rules themselves live in internal/validation (the
// request), internal/konkursbehandling (the decision: bankruptcy, window, ownership),
// internal/accounts (period semantics) and internal/filter (field delivery).
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// Mode is the environment the server runs in.
type Mode string

// Modes.
const (
	ModeTest       Mode = "test"
	ModeProduction Mode = "production"
)

// TokenValidator checks the Authorization header.
type TokenValidator interface {
	Validate(ctx context.Context, authorization string) (validation.Claims, error)
}

// Decider makes the Konkursbehandling decision (konkursbehandling.Decider implements it).
type Decider interface {
	ForParty(ctx context.Context, party string, p civil.Period) (konkursbehandling.Decision, []accounts.Holding, error)
	ForAccount(ctx context.Context, ref string, p civil.Period) (konkursbehandling.Decision, accounts.Holding, error)
}

// Filter applies the field-delivery tables (filter.Policy implements it).
type Filter interface {
	Apply(endpoint string, body any) ([]string, error)
	// TransactionsPage splices transactions in delivered form into a page (issue #15).
	TransactionsPage(envelope dsop.Transactions, s *filter.Splice) (body []byte, fields []string, count int, err error)
}

// Encrypter turns a 200 body into JWE for the consumer (encryption.Encrypter implements it): For
// finds the consumer's certificate while the request is handled; the body is sealed with it while
// its audit record is written.
type Encrypter interface {
	For(ctx context.Context, consumerID string) (encryption.Seal, error)
}

// Observer receives the request path's measurements (internal/telemetry implements it).
type Observer interface {
	// Request counts an answer by service (empty before routing), operation, code and status.
	Request(ctx context.Context, service, operation, code string, status int, d time.Duration)
	TokenFailure(ctx context.Context, reason string)
	AuditWrite(ctx context.Context, d time.Duration)
	// Record counts an audit record by outcome and kind, and its bytes (0 for a refusal counted
	// into the record of its second).
	Record(ctx context.Context, status int, kind audit.Kind, bytes int)
}

type noObserver struct{}

func (noObserver) Request(context.Context, string, string, string, int, time.Duration) {}
func (noObserver) TokenFailure(context.Context, string)                                {}
func (noObserver) AuditWrite(context.Context, time.Duration)                           {}
func (noObserver) Record(context.Context, int, audit.Kind, int)                        {}

// Deps are everything the server needs; there are no globals.
type Deps struct {
	Logger *slog.Logger
	Tokens TokenValidator
	Rules  validation.Rules
	// Services are the enabled DSOP services (Profile); without any, Decide and Policy serve
	// Konkursbehandling alone.
	Services []Profile
	// Decide says whether a request may be answered and which part of the data may leave.
	Decide Decider
	// Accounts fetches what the decision allows.
	Accounts *accounts.Service
	// Audit keeps one record per request; the answer waits for it.
	Audit   audit.Store
	Cursors accounts.CursorCodec
	Policy  Filter
	// Encrypter encrypts every 200 body that is not clear JSON in test mode.
	Encrypter Encrypter
	Mode      Mode
	// LinkBase is put before /accounts/… in every links[].href. Empty (the default): hrefs are
	// relative to the registered base URL, which is how the real consumer resolves them
	// (kontrollinformasjon-api.md §7).
	LinkBase string
	Loc      *time.Location
	Now      func() time.Time
	// Operations. All optional: no tracing, no metrics, no rate limit, no deadline by default.
	Tracer         trace.Tracer
	Propagator     propagation.TextMapPropagator
	Observer       Observer
	Admission      *Admission
	RequestTimeout time.Duration
	MaxHeaders     int
	// AuditTimeout is the least time an audit write is given, even past the request's deadline
	// (default 5 s).
	AuditTimeout time.Duration
	// MaxInFlight caps the requests served at once; above it requests are shed with 503 ACC-100
	// and Retry-After (0 = no cap).
	MaxInFlight int
	// Clients bounds the cost of callers without a valid token, per address (nil = off).
	Clients *ClientAdmission
	// ClientHeader names the header in which the gateway passes the caller's address
	// (DSOP_CLIENT_ADDRESS_HEADER); empty: the connection's address.
	ClientHeader string
	// AuditSpace, when set, says whether the audit volume has room; an error makes every new
	// request a 503 (guardDisk).
	AuditSpace func() error
	// Answers bounds the memory of answers in flight (DSOP_ANSWER_MEMORY; nil = no bound).
	Answers *AnswerBudget
}

// Server is the API's HTTP handler.
type Server struct {
	http.Handler
	api *api
}

// Close writes the records still counting refusals (ClientAdmission) before the stores close.
func (s *Server) Close(ctx context.Context) error { return s.api.coalesce.flush(ctx) }

// NewServer returns the HTTP handler of the API. All routes are here.
func NewServer(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Tracer == nil {
		d.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if d.Propagator == nil {
		d.Propagator = propagation.NewCompositeTextMapPropagator()
	}
	if d.Observer == nil {
		d.Observer = noObserver{}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	a := &api{Deps: d}
	a.registry, a.byService = a.Deps.profiles()
	a.coalesce = &coalescer{append: func(ctx context.Context, r *audit.Record) error { return d.Audit.Append(ctx, r) },
		log: func(msg string, args ...any) { d.Logger.Error(msg, args...) }}
	if d.MaxInFlight > 0 {
		a.inFlight = make(chan struct{}, d.MaxInFlight)
	}
	mux := http.NewServeMux()
	HandlerWithOptions(
		NewStrictHandlerWithOptions(a, nil, StrictHTTPServerOptions{
			RequestErrorHandlerFunc:  a.fail,
			ResponseErrorHandlerFunc: a.fail,
		}),
		StdHTTPServerOptions{BaseRouter: mux, ErrorHandlerFunc: a.fail},
	)
	// The middleware chain, outermost first: audit record, trace span, metrics and access log;
	// panic recovery; header and time limits; the client address's admission and the audit
	// volume's room (both before the token is read); the in-flight cap; method; route; token;
	// the service (consumer and Legal-Mandate); admission; Accept; endpoints outside the
	// service; then the generated binding and the handlers.
	var h http.Handler = mux
	h = a.refuseOutsideService(h)
	h = a.negotiate(h)
	h = a.admit(h)
	h = a.selectService(h)
	h = a.authenticate(h)
	h = a.route(mux, h)
	h = a.onlyGET(h)
	h = a.shed(h)
	h = a.guardDisk(h)
	h = a.admitClient(h)
	h = a.limitRequest(h)
	h = a.recoverPanics(h)
	h = a.record(h)
	return &Server{Handler: h, api: a}
}

type api struct {
	Deps
	registry  *dsopservice.Registry
	byService map[string]*Profile
	inFlight  chan struct{} // one token per request served, when MaxInFlight caps them
	coalesce  *coalescer
}

// fail answers with the Problem for err and logs the cause of a 5xx.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	if p.Status >= 500 {
		a.Logger.ErrorContext(r.Context(), "request failed", "error", err.Error(),
			"correlation_id", sanitize(r.Header.Get("CorrelationID")), "account_info_request_id", sanitize(r.Header.Get("AccountInfoRequestID")))
	}
	if bw, ok := w.(*bufferedWriter); ok {
		// The outcome, and what the handler had decided when it refused, for the record.
		bw.problem = p
		var rf *refusal
		if errors.As(err, &rf) {
			bw.facts = rf.facts
		}
	}
	writeProblem(w, p)
}

// route refuses paths that are not endpoints of the API with 400 ACC-001 (the Konkurs page
// speaks of invalid endpoints in general; kontrollinformasjon-api.md §8.3 row 3). A trailing
// slash is tolerated, and the prose spelling onlyPrimaryOwner is accepted for the query
// parameter OnlyPrimaryOwner (validation.OnlyPrimaryOwner). Both are normalised on a copy of the
// URL: the audit record keeps the request as received.
func (a *api) route(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			a.fail(w, r, errQuery)
			return
		}
		// Only canonical paths: ServeMux would answer "//v2/accounts", "/v2/./accounts" or
		// "/v2/x/../accounts" with a 307 redirect to the cleaned path; a DSOP endpoint answers or
		// refuses, it never redirects. One trailing slash is tolerated.
		if p := strings.TrimSuffix(r.URL.Path, "/"); p == "" || path.Clean(p) != p {
			a.fail(w, r, errRoute)
			return
		}
		u := *r.URL
		if p := u.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			u.Path = strings.TrimRight(p, "/")
			u.RawPath = strings.TrimRight(u.RawPath, "/")
		}
		if v, name, ok := validation.OnlyPrimaryOwner(q); ok && name != "OnlyPrimaryOwner" {
			delete(q, name)
			q.Set("OnlyPrimaryOwner", v)
			u.RawQuery = q.Encode()
		}
		r = r.WithContext(r.Context()) // a shallow copy whose URL is u
		r.URL = &u
		_, pattern := mux.Handler(r)
		if pattern == "" || !strings.HasPrefix(pattern, "GET ") {
			a.fail(w, r, errRoute)
			return
		}
		c := callOf(r.Context())
		c.operation, c.route = operationOf(pattern), strings.TrimPrefix(pattern, "GET ")
		next.ServeHTTP(w, r)
	})
}

func operationOf(pattern string) string {
	switch {
	case strings.HasSuffix(pattern, "/transactions"):
		return "listTransactions"
	case strings.HasSuffix(pattern, "/cards"):
		return "listCards"
	case strings.HasSuffix(pattern, "/roles"):
		return "listRoles"
	case strings.HasSuffix(pattern, "{accountReference}"):
		return "showAccountById"
	}
	return "listAccounts"
}
