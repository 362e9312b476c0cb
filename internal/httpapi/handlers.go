package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// ListAccounts is step 2a: the accounts the bankrupt party owned in the period.
func (a *api) ListAccounts(ctx context.Context, req ListAccountsRequestObject) (ListAccountsResponseObject, error) {
	p := req.Params
	r, err := a.check(validation.Headers{
		AccountInfoRequestID: p.AccountInfoRequestID, CorrelationID: p.CorrelationID, LegalMandate: p.LegalMandate,
		AdditionalReferenceID: deref(p.AdditionalReferenceID), AdditionalReferenceIDType: string(deref(p.AdditionalReferenceIDType)),
		RequesterID: deref(p.RequesterID), FromDate: p.FromDate, ToDate: p.ToDate,
	})
	if err != nil {
		return nil, err
	}
	if _, err := validation.CheckPartyID(p.PartyID); err != nil {
		return nil, err
	}
	if err := validation.CheckOnlyPrimaryOwner(p.OnlyPrimaryOwner); err != nil {
		return nil, err
	}
	ex := exchangeOf(ctx)
	ex.legalMandate = r.LegalMandate
	state, err := a.gate(ctx, p.PartyID)
	if err != nil {
		return nil, err
	}
	ex.notice = state
	if err := validation.CheckWindow(r.Period, state.Kjennelsesdato); err != nil {
		return nil, err
	}
	sctx, span := a.Tracer.Start(ctx, "store.accounts")
	body, err := a.Accounts.ListAccounts(sctx, p.PartyID, r.Period.From, r.Period.To)
	span.End()
	if err != nil {
		return nil, err
	}
	q := url.Values{"OnlyPrimaryOwner": {"true"}, "fromDate": {r.Period.From.String()}, "toDate": {r.Period.To.String()}}
	body.Links = &[]dsop.Link{{Rel: "self", Href: a.LinkPrefix + "/accounts?" + q.Encode()}}
	return a.encode(ctx, filter.EndpointAccounts, &body)
}

// ShowAccountById is step 2b: one account with its balances.
func (a *api) ShowAccountById(ctx context.Context, req ShowAccountByIdRequestObject) (ShowAccountByIdResponseObject, error) {
	p := req.Params
	r, err := a.check(validation.Headers{
		AccountInfoRequestID: p.AccountInfoRequestID, CorrelationID: p.CorrelationID, LegalMandate: p.LegalMandate,
		AdditionalReferenceID: deref(p.AdditionalReferenceID), AdditionalReferenceIDType: string(deref(p.AdditionalReferenceIDType)),
		RequesterID: deref(p.RequesterID), FromDate: p.FromDate, ToDate: p.ToDate,
	})
	if err != nil {
		return nil, err
	}
	exchangeOf(ctx).legalMandate = r.LegalMandate
	acct, party, err := a.authorizeAccount(ctx, req.AccountReference, r.Period)
	if err != nil {
		return nil, err
	}
	sctx, span := a.Tracer.Start(ctx, "store.account")
	body, err := a.Accounts.Details(sctx, acct, party, r.Period.From, r.Period.To)
	span.End()
	if err != nil {
		return nil, err
	}
	return a.encode(ctx, filter.EndpointAccount, &body)
}

// ListTransactions is step 2b: the account's transactions in the period, a page at a time.
func (a *api) ListTransactions(ctx context.Context, req ListTransactionsRequestObject) (ListTransactionsResponseObject, error) {
	p := req.Params
	r, err := a.check(validation.Headers{
		AccountInfoRequestID: p.AccountInfoRequestID, CorrelationID: p.CorrelationID, LegalMandate: p.LegalMandate,
		AdditionalReferenceID: deref(p.AdditionalReferenceID), AdditionalReferenceIDType: string(deref(p.AdditionalReferenceIDType)),
		RequesterID: deref(p.RequesterID), FromDate: p.FromDate, ToDate: p.ToDate,
	})
	if err != nil {
		return nil, err
	}
	exchangeOf(ctx).legalMandate = r.LegalMandate
	acct, _, err := a.authorizeAccount(ctx, req.AccountReference, r.Period)
	if err != nil {
		return nil, err
	}
	var after *accounts.Position
	if p.Page != nil {
		pos, err := a.Cursors.Decode(acct.Reference, r.Period.From, r.Period.To, *p.Page)
		if err != nil {
			return nil, err
		}
		after = &pos
	}
	sctx, span := a.Tracer.Start(ctx, "store.transactions")
	page, err := a.Accounts.Transactions(sctx, acct, r.Period.From, r.Period.To, after)
	span.End()
	if err != nil {
		return nil, err
	}
	self := a.transactionsHref(acct.Reference, r.Period, deref(p.Page))
	links := []dsop.Link{{Rel: "self", Href: self}}
	if page.Next != nil {
		links = append(links, dsop.Link{Rel: "next", Href: a.transactionsHref(acct.Reference, r.Period,
			a.Cursors.Encode(acct.Reference, r.Period.From, r.Period.To, *page.Next))})
	}
	page.Body.Links = &links
	return a.encode(ctx, filter.EndpointTransactions, &page.Body)
}

// ListCards is not part of Konkursbehandling; refuseOutsideService answers it before binding.
func (a *api) ListCards(context.Context, ListCardsRequestObject) (ListCardsResponseObject, error) {
	return nil, errNotInService("Cards")
}

// ListRoles is not part of Konkursbehandling; refuseOutsideService answers it before binding.
func (a *api) ListRoles(context.Context, ListRolesRequestObject) (ListRolesResponseObject, error) {
	return nil, errNotInService("Roles")
}

// gate asks the bankruptcy gate (notice store, perhaps an on-demand sync) in a span of its own.
func (a *api) gate(ctx context.Context, party string) (konkursvarsel.DebtorState, error) {
	ctx, span := a.Tracer.Start(ctx, "store.notices")
	defer span.End()
	return a.Gate.Check(ctx, party)
}

func (a *api) check(h validation.Headers) (validation.Request, error) {
	return a.Rules.Check(h, civil.Today(a.Now(), a.Loc))
}

// authorizeAccount re-derives the party of a step 2b request from the account
// (konkursbehandling-rules.md §5.2 item 6): one of the account's primary owners must have an open
// bankruptcy, the period must lie in its window, and that party must have owned the account in
// the period. An account of a party without any notice is "not found", so that the answer does
// not reveal that the account exists; an owner whose bankruptcy has ended gets 403 (K-10).
func (a *api) authorizeAccount(ctx context.Context, ref string, p validation.Period) (accounts.StoredAccount, string, error) {
	ex := exchangeOf(ctx)
	ex.accountRef = ref
	acct, err := a.Accounts.Resolve(ctx, ref)
	if err != nil {
		return accounts.StoredAccount{}, "", err
	}
	var refused error
	for _, owner := range accounts.PrimaryOwners(acct) {
		state, err := a.gate(ctx, owner)
		var re *konkursvarsel.RefusedError
		if errors.As(err, &re) {
			if re.State.Status != konkursvarsel.StatusNone && refused == nil {
				refused = err
				ex.party = owner
			}
			continue
		}
		if err != nil {
			return accounts.StoredAccount{}, "", err
		}
		ex.party, ex.notice = owner, state
		if err := validation.CheckWindow(p, state.Kjennelsesdato); err != nil {
			return accounts.StoredAccount{}, "", err
		}
		if _, ok := accounts.OwnedBy(acct, owner, p.From, p.To); !ok {
			return accounts.StoredAccount{}, "", fmt.Errorf("party did not own the account in the period: %w", accounts.ErrAccountNotFound)
		}
		return acct, owner, nil
	}
	if refused != nil {
		return accounts.StoredAccount{}, "", refused
	}
	return accounts.StoredAccount{}, "", accounts.ErrAccountNotFound
}

func (a *api) transactionsHref(ref string, p validation.Period, page string) string {
	q := url.Values{"fromDate": {p.From.String()}, "toDate": {p.To.String()}}
	if page != "" {
		q.Set("page", page)
	}
	return a.LinkPrefix + "/accounts/" + url.PathEscape(ref) + "/transactions?" + q.Encode()
}

// encode filters the body and turns it into the answer.
func (a *api) encode(ctx context.Context, endpoint string, body any) (*okResponse, error) {
	_, span := a.Tracer.Start(ctx, "filter.encode")
	fields, err := a.Policy.Apply(endpoint, body)
	if err != nil {
		span.End()
		return nil, err
	}
	b, err := marshal(body)
	span.End()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", endpoint, err)
	}
	ex := exchangeOf(ctx)
	ex.fields, ex.bodySHA256 = fields, audit.BodyHash(b)
	switch v := body.(type) {
	case *dsop.Accounts:
		ex.accounts = ptr(len(deref(v.Accounts)))
	case *dsop.AccountDetails:
		ex.accounts = ptr(1)
	case *dsop.Transactions:
		ex.transactions = ptr(len(deref(v.Transactions)))
	}
	if ex.format == formatJSON && a.Mode == ModeTest {
		return &okResponse{body: b, contentType: "application/json"}, nil
	}
	// Everything else is encrypted for the consumer; without a certificate nothing leaves.
	ectx, espan := a.Tracer.Start(ctx, "encrypt")
	jwe, err := a.Encrypter.Encrypt(ectx, ex.claims.ConsumerID, b)
	espan.End()
	if err != nil {
		return nil, err
	}
	return &okResponse{body: jwe, contentType: "application/jose"}, nil
}

// okResponse is a 200 answer; it satisfies the response interface of every operation.
type okResponse struct {
	body        []byte
	contentType string
}

func (o *okResponse) write(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", o.contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if bw, ok := w.(*bufferedWriter); ok {
		bw.take(o.body) // the body is ours: hand it over instead of copying it
		return nil
	}
	_, err := w.Write(o.body)
	return err
}

func (o *okResponse) VisitListAccountsResponse(w http.ResponseWriter) error     { return o.write(w) }
func (o *okResponse) VisitShowAccountByIdResponse(w http.ResponseWriter) error  { return o.write(w) }
func (o *okResponse) VisitListTransactionsResponse(w http.ResponseWriter) error { return o.write(w) }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }
