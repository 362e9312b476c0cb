package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// The handlers hold no rule of the standard: each binds, has the request checked
// (internal/validation), asks its service's decision (the Profile the request was routed to:
// internal/konkursbehandling, internal/oed), fetches what the decision allows
// (internal/accounts), and filters and encodes it with the service's tables (internal/filter).

// ListAccounts is step 2a: the accounts the party owned in the period, as its service decides.
func (a *api) ListAccounts(ctx context.Context, req ListAccountsRequestObject) (ListAccountsResponseObject, error) {
	p, svc := req.Params, profileOf(ctx)
	r, err := a.Rules.CheckAccounts(validation.AccountsInput{
		Input:   input(p.AccountInfoRequestID, p.CorrelationID, p.LegalMandate, p.FromDate, p.ToDate),
		PartyID: p.PartyID, OnlyPrimaryOwner: p.OnlyPrimaryOwner,
		AllowedOnlyPrimaryOwner: svc.Service.OnlyPrimaryOwner, Service: svc.Service.Title,
	}, a.today())
	if err != nil {
		return nil, err
	}
	facts := decisionFacts{legalMandate: r.LegalMandate}
	dec, holdings, err := svc.Decide.ForParty(ctx, r.PartyID, r.Period)
	facts.decided(dec, holdings...)
	if err != nil {
		return nil, facts.refusal(err)
	}
	body, err := svc.Accounts.ListAccounts(ctx, holdings)
	if err != nil {
		return nil, facts.refusal(err)
	}
	q := url.Values{"OnlyPrimaryOwner": {strings.ToLower(p.OnlyPrimaryOwner)}, "fromDate": {r.Period.From.String()}, "toDate": {r.Period.To.String()}}
	body.Links = &[]dsop.Link{{Rel: "self", Href: a.LinkBase + "/accounts?" + q.Encode()}}
	return a.encode(ctx, facts, filter.EndpointAccounts, &body)
}

// ShowAccountById is step 2b: one account with its balances.
func (a *api) ShowAccountById(ctx context.Context, req ShowAccountByIdRequestObject) (ShowAccountByIdResponseObject, error) {
	p := req.Params
	r, h, facts, err := a.decideAccount(ctx, req.AccountReference, input(p.AccountInfoRequestID, p.CorrelationID, p.LegalMandate, p.FromDate, p.ToDate))
	if err != nil {
		return nil, facts.refusal(err)
	}
	body, err := profileOf(ctx).Accounts.Details(ctx, h, r.Period.To)
	if err != nil {
		return nil, facts.refusal(err)
	}
	return a.encode(ctx, facts, filter.EndpointAccount, &body)
}

// ListTransactions is step 2b: the account's transactions in the period, a page at a time.
func (a *api) ListTransactions(ctx context.Context, req ListTransactionsRequestObject) (ListTransactionsResponseObject, error) {
	p := req.Params
	r, h, facts, err := a.decideAccount(ctx, req.AccountReference, input(p.AccountInfoRequestID, p.CorrelationID, p.LegalMandate, p.FromDate, p.ToDate))
	if err != nil {
		return nil, facts.refusal(err)
	}
	ref := h.Account.Reference
	var after *accounts.Position
	if p.Page != nil {
		pos, err := a.Cursors.Decode(ref, r.Period.From, r.Period.To, *p.Page)
		if err != nil {
			return nil, facts.refusal(err)
		}
		after = &pos
	}
	page, err := profileOf(ctx).Accounts.Transactions(ctx, h, after)
	if err != nil {
		return nil, facts.refusal(err)
	}
	links := []dsop.Link{{Rel: "self", Href: a.transactionsHref(ref, r.Period, deref(p.Page))}}
	if page.Next != nil {
		next := a.Cursors.Encode(ref, r.Period.From, r.Period.To, *page.Next)
		links = append(links, dsop.Link{Rel: "next", Href: a.transactionsHref(ref, r.Period, next)})
	}
	page.Body.Links = &links
	if page.Delivered != nil {
		return a.encodeDelivered(ctx, facts, page)
	}
	return a.encode(ctx, facts, filter.EndpointTransactions, &page.Body)
}

// ListCards is the Cards endpoint, for a service that allows it (neither Konkursbehandling nor
// OED does: refuseOutsideService answers them before binding).
func (a *api) ListCards(ctx context.Context, req ListCardsRequestObject) (ListCardsResponseObject, error) {
	p := req.Params
	_, h, facts, err := a.decideAccount(ctx, req.AccountReference, input(p.AccountInfoRequestID, p.CorrelationID, p.LegalMandate, p.FromDate, p.ToDate))
	if err != nil {
		return nil, facts.refusal(err)
	}
	body := profileOf(ctx).Accounts.Cards(h)
	return a.encode(ctx, facts, filter.EndpointCards, &body)
}

// ListRoles is the Roles endpoint, for a service that allows it (neither Konkursbehandling nor
// OED does).
func (a *api) ListRoles(ctx context.Context, req ListRolesRequestObject) (ListRolesResponseObject, error) {
	p := req.Params
	_, h, facts, err := a.decideAccount(ctx, req.AccountReference, input(p.AccountInfoRequestID, p.CorrelationID, p.LegalMandate, p.FromDate, p.ToDate))
	if err != nil {
		return nil, facts.refusal(err)
	}
	body, err := profileOf(ctx).Accounts.Roles(ctx, h)
	if err != nil {
		return nil, facts.refusal(err)
	}
	return a.encode(ctx, facts, filter.EndpointRoles, &body)
}

// profileOf is the service the request was routed to (selectService runs before every handler).
func profileOf(ctx context.Context) *Profile { return callOf(ctx).profile }

// decideAccount is what the two step 2b handlers share: the request check, then the decision
// for the account (the party is re-derived from it). The facts are what the record says of it,
// whatever the outcome.
func (a *api) decideAccount(ctx context.Context, ref string, in validation.Input) (validation.Request, accounts.Holding, decisionFacts, error) {
	facts := decisionFacts{accountRef: ref}
	r, err := a.Rules.CheckAccount(in, a.today())
	if err != nil {
		return r, accounts.Holding{}, facts, err
	}
	facts.legalMandate = r.LegalMandate
	dec, h, err := profileOf(ctx).Decide.ForAccount(ctx, ref, r.Period)
	if err != nil {
		facts.decided(dec)
		return r, accounts.Holding{}, facts, err
	}
	facts.decided(dec, h)
	return r, h, facts, nil
}

func input(aid, cid, mandate string, from, to *string) validation.Input {
	return validation.Input{AccountInfoRequestID: aid, CorrelationID: cid, LegalMandate: mandate, FromDate: from, ToDate: to}
}

func (a *api) today() civil.Date { return civil.Today(a.Now(), a.Loc) }

// decisionFacts are what a handler tells the audit record about its request: the legal basis
// it found, the party and accounts it concerned, and what it delivered. They travel back with the
// handler's answer (okResponse) or its error (refusal), never through the context; the record
// layer joins them to the request as received and to the outcome (record.go).
type decisionFacts struct {
	legalMandate   string // decoded
	accountRef     string
	party          string
	notice         konkursvarsel.DebtorState
	spells         []string // "<accountReference> FROM/TO" per delivery spell
	accountNumbers []string
	accounts       *int
	transactions   *int
	fields         []string
}

// decided keeps the legal basis, the party, the accounts and the delivery spells.
func (f *decisionFacts) decided(dec konkursbehandling.Decision, holdings ...accounts.Holding) {
	f.party, f.notice = dec.Party, dec.Bankruptcy
	f.spells, f.accountNumbers = nil, nil
	for _, h := range holdings {
		f.accountNumbers = append(f.accountNumbers, h.Account.AccountNumber)
		for _, s := range h.Spells {
			f.spells = append(f.spells, h.Account.Reference+" "+s.String())
		}
	}
}

// refusal is a handler's error with what the handler had decided when it refused.
type refusal struct {
	facts decisionFacts
	err   error
}

func (f decisionFacts) refusal(err error) error { return &refusal{facts: f, err: err} }
func (r *refusal) Error() string                { return r.err.Error() }
func (r *refusal) Unwrap() error                { return r.err }

func (a *api) transactionsHref(ref string, p civil.Period, page string) string {
	q := url.Values{"fromDate": {p.From.String()}, "toDate": {p.To.String()}}
	if page != "" {
		q.Set("page", page)
	}
	return a.LinkBase + "/accounts/" + url.PathEscape(ref) + "/transactions?" + q.Encode()
}

// encode filters the body and turns it into the answer.
func (a *api) encode(ctx context.Context, facts decisionFacts, endpoint string, body any) (*okResponse, error) {
	fields, err := profileOf(ctx).Policy.Apply(endpoint, body)
	if err != nil {
		return nil, facts.refusal(err)
	}
	b, err := marshal(body)
	if err != nil {
		return nil, facts.refusal(fmt.Errorf("encode %s: %w", endpoint, err))
	}
	switch v := body.(type) {
	case *dsop.Accounts:
		facts.accounts = ptr(len(deref(v.Accounts)))
	case *dsop.AccountDetails:
		facts.accounts = ptr(1)
	case *dsop.Transactions:
		facts.transactions = ptr(len(deref(v.Transactions)))
	}
	facts.fields = fields
	return a.answer(ctx, facts, b)
}

// encodeDelivered is encode for a transactions page read in delivered form: the stored bytes,
// already filtered by the same policy, are spliced into the page (filter.Policy.TransactionsPage).
func (a *api) encodeDelivered(ctx context.Context, facts decisionFacts, page accounts.Page) (*okResponse, error) {
	b, fields, n, err := profileOf(ctx).Policy.TransactionsPage(page.Body, page.Delivered)
	if err != nil {
		return nil, facts.refusal(err)
	}
	facts.transactions, facts.fields = ptr(n), fields
	r, err := a.answer(ctx, facts, b)
	if err != nil {
		return nil, err
	}
	r.release = page.Delivered.Release
	return r, nil
}

// answer hands the body to the record layer, which hashes it into the audit record and, unless it
// is clear JSON in test mode, encrypts it for the consumer while the record is written. The
// consumer's certificate is found here, before anything is recorded: without one nothing leaves,
// and the refusal is recorded as such.
func (a *api) answer(ctx context.Context, facts decisionFacts, b []byte) (*okResponse, error) {
	call := callOf(ctx)
	if call.format == formatJSON && a.Mode == ModeTest {
		return &okResponse{body: b, contentType: "application/json", facts: facts}, nil
	}
	seal, err := a.Encrypter.For(ctx, call.claims.ConsumerID)
	if err != nil {
		// Without a usable certificate no plaintext may leave (kontrollinformasjon-api.md §9.2).
		a.Logger.ErrorContext(ctx, "no usable encryption certificate for the consumer", "error", err.Error())
		return nil, facts.refusal(&Problem{http.StatusInternalServerError, CodeInternal, "technical error at the bank: no usable encryption certificate for the consumer, so no data was delivered", "no-certificate"})
	}
	return &okResponse{body: b, seal: seal, contentType: "application/jose", facts: facts}, nil
}

// okResponse is a 200 answer; it satisfies the response interface of every operation. body is
// the delivered JSON; seal, when set, encrypts it; release, when set, gives body's memory back
// once the answer has left (filter.Splice.Release).
type okResponse struct {
	body        []byte
	seal        encryption.Seal
	release     func()
	contentType string
	facts       decisionFacts
}

func (o *okResponse) write(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", o.contentType)
	w.Header().Set("Cache-Control", "no-store")
	bw, ok := w.(*bufferedWriter)
	if !ok {
		// A 200 answer is only ever written through the record layer (NewServer), which hashes
		// and encrypts it.
		return errors.New("a 200 answer outside the record layer")
	}
	bw.deliver(o.body, o.seal, o.release, o.facts) // the body is ours: hand it over instead of copying it
	return nil
}

func (o *okResponse) VisitListAccountsResponse(w http.ResponseWriter) error     { return o.write(w) }
func (o *okResponse) VisitShowAccountByIdResponse(w http.ResponseWriter) error  { return o.write(w) }
func (o *okResponse) VisitListTransactionsResponse(w http.ResponseWriter) error { return o.write(w) }
func (o *okResponse) VisitListCardsResponse(w http.ResponseWriter) error        { return o.write(w) }
func (o *okResponse) VisitListRolesResponse(w http.ResponseWriter) error        { return o.write(w) }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }
