// Package conformance plays an agency — Brønnøysundregistrene (BRREG) for Konkursbehandling, by
// default, or the consumer of another DSOP service (Options.Service) — against any bank's DSOP
// Control API v2 and says, case by case, whether that bank serves the service correctly. It calls the bank
// the way the one public V2 consumer does (Digdir's plugin-banking, kontrollinformasjon-api.md
// §7–7.1): step 2a, then the details of every account at once, then each account's transactions
// page by page, following next as registered base URL + href, with a new CorrelationID per page
// and one 30 s budget for all pages of an account. The cases are listed, with what each checks
// and why, in cases.go.
package conformance

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
)

// Party is a test party the service serves at the bank (a debtor whose bankruptcy is open, a
// deceased person), with the date its window is counted from (kjennelsesdato, date of death).
type Party struct {
	ID     string
	Anchor civil.Date
}

// TokenKind is the kind of access token a case needs.
type TokenKind int

// Token kinds. Only Valid is needed for the flow; the others let refusal cases run.
const (
	Valid TokenKind = iota
	Expired
	WrongScope
	WrongConsumer
)

// ErrCannotMint is returned by a TokenSource that cannot make a token of that kind; the case is
// then skipped, not failed.
var ErrCannotMint = errors.New("this token source cannot make such a token")

// TokenSource gives Maskinporten access tokens for the service's consumer with the bank's
// audience.
type TokenSource interface {
	Token(ctx context.Context, kind TokenKind) (string, error)
}

// Options are the kit's inputs.
type Options struct {
	// BaseURL is the bank's registered base URL; the kit appends paths and hrefs to it as the
	// real consumer does.
	BaseURL string
	// Service is the DSOP service played (default dsopservice.Konkursbehandling): its consumer,
	// mandate, endpoints and window.
	Service dsopservice.Service
	Tokens  TokenSource
	// Key is the consumer's private key: every 200 must decrypt with it.
	Key     *rsa.PrivateKey
	Parties []Party
	// Refused are parties the bank must refuse: no open bankruptcy (annulled, reversed, closed,
	// never notified).
	Refused []string
	HTTP    *http.Client
	// Now is the clock ("today" is Norwegian time); time.Now when nil.
	Now func() time.Time
	// Progress, when set, is told of each result as it is known.
	Progress func(done, total int, r Result)
	// Production is the read-only mode for a bank's production (Bits asks for its cases in test
	// and in production): only GET is sent, so a case that needs another method is skipped.
	Production bool
	// Rate caps the requests sent per second (0 = no cap): in production, the kit must not load
	// the bank more than the real consumer would.
	Rate float64
}

// RequestTimeout bounds every request of a run when Options.HTTP sets no timeout of its own.
const RequestTimeout = 30 * time.Second

// Status is a case's outcome.
type Status string

// Outcomes.
const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Result is one case's outcome with its evidence.
type Result struct {
	Case     Case
	Status   Status
	Evidence string
	Duration time.Duration
}

// Report is the outcome of a run.
type Report struct {
	BaseURL string
	Started time.Time
	Results []Result
}

// Count returns how many results have status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == s {
			n++
		}
	}
	return n
}

// Run runs every case in order.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.BaseURL == "" || o.Tokens == nil || o.Key == nil {
		return Report{}, errors.New("conformance needs a base URL, a token source and the consumer's private key")
	}
	if len(o.Parties) == 0 {
		return Report{}, errors.New("conformance needs at least one test party with an open bankruptcy")
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{}
	}
	if o.HTTP.Timeout == 0 {
		// A bank that never answers must not hold the kit forever (issue #27): each request
		// gets at most RequestTimeout, the real client's budget for an account's pages.
		c := *o.HTTP
		c.Timeout = RequestTimeout
		o.HTTP = &c
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Service.Name == "" {
		o.Service = dsopservice.Konkursbehandling()
	}
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		return Report{}, err
	}
	schemas, err := loadSchemas(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("the kit's copy of Bank_v2.yaml: %w", err)
	}
	k := &kit{o: o, today: civil.Today(o.Now(), oslo), schemas: schemas}
	if o.Rate > 0 {
		k.limit = rate.NewLimiter(rate.Limit(o.Rate), 1)
	}
	rep := Report{BaseURL: o.BaseURL, Started: o.Now()}
	cases := CasesFor(o.Service)
	for i, c := range cases {
		start := time.Now()
		var st Status
		var ev string
		if o.Production && c.writes {
			st, ev = Skip, "production mode sends GET only: this case sends other methods"
		} else {
			st, ev = c.run(ctx, k)
		}
		res := Result{Case: c, Status: st, Evidence: ev, Duration: time.Since(start)}
		rep.Results = append(rep.Results, res)
		if o.Progress != nil {
			o.Progress(i+1, len(cases), res)
		}
	}
	return rep, nil
}

// kit is the state of one run: the options, the exchanges seen, and the flow's results.
type kit struct {
	o       Options
	today   civil.Date
	schemas *openapi3.T
	limit   *rate.Limiter // Options.Rate; nil: no cap

	mu        sync.Mutex
	exchanges []*exchange

	flowOnce sync.Once
	flow     []*partyFlow
}

// exchange is one request and its answer as the consumer saw it.
type exchange struct {
	Method, URL string
	// CaseID and CorrelationID are the AccountInfoRequestID and CorrelationID sent: evidence that
	// lets the bank find the request in its own log.
	CaseID, CorrelationID string
	Status                int
	Header                http.Header
	Body                  []byte
	// Plain is the decrypted body of a 200 (or the body itself when it was not a JWE, so that the
	// other cases can go on: the JWE case reports that failure).
	Plain []byte
	// JWE is why the 200 was not the JWE the consumer needs; nil when it was.
	JWE error
	Err error // transport error
}

// request is what the kit sends; the zero value is a valid 2b request without a token.
type request struct {
	method  string
	url     string
	party   string // PartyID, for 2a
	token   string
	caseID  string // AccountInfoRequestID
	mandate string // "" = the service's mandate as the real consumer encodes it
	noAuth  bool
}

// EscapeDataString encodes a Legal-Mandate as .NET's Uri.EscapeDataString does, as the real
// consumers send it: every byte but the unreserved characters percent-encoded, parentheses too
// (kontrollinformasjon-api.md §7.1).
func EscapeDataString(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// earliest is the first fromDate the service's window allows for a party.
func (k *kit) earliest(p Party) civil.Date { return k.o.Service.Window.Earliest(p.Anchor) }

// url appends a path or an href to the registered base URL the consumer's way: the base URL
// always ends in "/", and the href's leading "/" is dropped.
func (k *kit) url(pathOrHref string) string {
	base := k.o.BaseURL
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base + strings.TrimPrefix(pathOrHref, "/")
}

func (k *kit) token(ctx context.Context) (string, error) { return k.o.Tokens.Token(ctx, Valid) }

// do sends one request with a new CorrelationID and records the exchange.
func (k *kit) do(ctx context.Context, r request) *exchange {
	ex := &exchange{Method: r.method, URL: r.url}
	if ex.Method == "" {
		ex.Method = http.MethodGet
	}
	defer func() {
		k.mu.Lock()
		k.exchanges = append(k.exchanges, ex)
		k.mu.Unlock()
	}()
	req, err := http.NewRequestWithContext(ctx, ex.Method, r.url, nil)
	if err != nil {
		ex.Err = err
		return ex
	}
	caseID := r.caseID
	if caseID == "" {
		caseID = uuid.NewString()
	}
	ex.CaseID, ex.CorrelationID = caseID, uuid.NewString()
	req.Header.Set("AccountInfoRequestID", ex.CaseID)
	req.Header.Set("CorrelationID", ex.CorrelationID)
	mandate := r.mandate
	if mandate == "" {
		mandate = EscapeDataString(k.o.Service.Mandates[0])
	}
	req.Header.Set("Legal-Mandate", mandate)
	req.Header.Set("Accept", "application/jose")
	if r.party != "" {
		req.Header.Set("PartyID", r.party)
	}
	if !r.noAuth {
		tok := r.token
		if tok == "" {
			if tok, err = k.token(ctx); err != nil {
				ex.Err = fmt.Errorf("token: %w", err)
				return ex
			}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if k.o.Production && req.Method != http.MethodGet {
		ex.Err = errors.New("production mode sends GET only")
		return ex
	}
	if k.limit != nil {
		if err := k.limit.Wait(ctx); err != nil {
			ex.Err = err
			return ex
		}
	}
	resp, err := k.o.HTTP.Do(req)
	if err != nil {
		ex.Err = err
		return ex
	}
	defer resp.Body.Close()
	ex.Status, ex.Header = resp.StatusCode, resp.Header
	if ex.Body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20)); err != nil {
		ex.Err = err
		return ex
	}
	if ex.Status == http.StatusOK {
		ex.Plain, ex.JWE = k.open(ex)
	}
	return ex
}

// describe is a short, data-free label of an exchange for evidence: the request line, what came
// back (status, and for an error its ACC code and message) and the ids to find it by.
func (ex *exchange) describe() string {
	ids := fmt.Sprintf(" [AccountInfoRequestID %s, CorrelationID %s]", ex.CaseID, ex.CorrelationID)
	if ex.Err != nil {
		return fmt.Sprintf("%s %s: %v", ex.Method, redact(ex.URL), ex.Err) + ids
	}
	if ex.Status != http.StatusOK {
		return fmt.Sprintf("%s %s → %d %s %q", ex.Method, redact(ex.URL), ex.Status, errorCode(ex), clip(errorMessage(ex), 200)) + ids
	}
	return fmt.Sprintf("%s %s → %d", ex.Method, redact(ex.URL), ex.Status) + ids
}

// redact drops the query (it may hold a page cursor) from a URL for evidence.
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

func (c Case) String() string { return c.ID }
