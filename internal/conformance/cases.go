package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
)

// Case is one conformance case: what it checks and why, in the words a bank's tester reads, and
// the code that checks it. The list is Cases; docs/conformance.md renders it.
type Case struct {
	ID     string
	Title  string
	Checks string
	Why    string
	Ref    string // section of the standard's restatement
	run    func(context.Context, *kit) (Status, string)
	writes bool // sends a method other than GET: skipped in production mode
}

// Bits' four categories of test cases for a data provider (run in test and in production).
const (
	CategoryIntegration = "Integration and responses"
	CategoryValidation  = "Validation and expected delivery"
	CategoryDataQuality = "Data quality"
	CategoryDeviations  = "Deviations and compliance"
)

// Category is the one of Bits' four categories the case belongs to.
func (c Case) Category() string {
	switch c.ID {
	case "FLOW-2A", "FLOW-2B-DETAILS", "JWE", "ERR-FORMAT", "REF-UNKNOWN-PATH", "REF-METHOD":
		return CategoryIntegration
	case "FLOW-2B-PAGING":
		return CategoryDataQuality
	case "REF-CONSUMER", "REF-SCOPE", "REF-NOT-BANKRUPT", "REF-NO-TOKEN", "REF-FORGED-TOKEN", "REF-EXPIRED-TOKEN":
		return CategoryDeviations
	}
	return CategoryValidation
}

// Cases is every case of Konkursbehandling, the default service (docs/conformance.md renders them).
func Cases() []Case { return CasesFor(dsopservice.Konkursbehandling()) }

// CasesFor is every case for a service, in the order they run: the consumer's flow first (its
// 200s feed the JWE case), then the refusals (their errors feed the error-format case). The
// service's consumer, mandate, endpoints and window come from its value, never restated here.
func CasesFor(svc dsopservice.Service) []Case {
	w := svc.Window
	from := fmt.Sprintf("%s − %s", w.Anchor, w.LookBack)
	return []Case{
		{ID: "FLOW-2A", Title: "Step 2a: the accounts of each test party",
			Checks: "GET accounts?OnlyPrimaryOwner=true with fromDate = " + from + " and toDate = today answers 200; the body validates against the v2 Accounts schema and what the consumer parses (identifier value ≥ 6 characters, non-empty accountReference and links[].rel)",
			Why:    "Step 2a is where the estate learns which accounts exist; an answer the consumer cannot parse loses the whole bank",
			Ref:    "konkursbehandling-rules.md §3.2; kontrollinformasjon-api.md §5.3, §7.1", run: flow2A},
		{ID: "FLOW-2B-DETAILS", Title: "Step 2b: details of every account, requested at once",
			Checks: "the details of all accounts listed in 2a are requested concurrently (up to 64 at once); every one answers 200 with a body valid against AccountDetails",
			Why:    "the real consumer asks for all details at once and silently keeps an account without details or transactions when its request fails (429 included)",
			Ref:    "kontrollinformasjon-api.md §7.1", run: flowDetails},
		{ID: "FLOW-2B-PAGING", Title: "Step 2b: transactions page by page, following next as the consumer does",
			Checks: "pages are fetched by registered base URL + href without its leading '/', a new CorrelationID each, within one 30 s budget per account; every page 200 and valid; ≥ 1 000 transactions on each page but the last; no next on the last page; no transaction twice; for accounts of several pages, the two halves of the period fetched apart give exactly the same transactions (no gaps)",
			Why:    "hrefs that do not resolve against the registered base URL make the consumer drop the account's transactions, first page included",
			Ref:    "kontrollinformasjon-api.md §7, §7.1; test-cases.md T-02, T-07", run: flowPaging},
		{ID: "JWE", Title: "Every 200 is a bare JWE the consumer decrypts",
			Checks: "Content-Type application/jose; the body is exactly a JWE compact serialization; protected header alg RSA-OAEP-256, enc A128CBC-HS256 or A256GCM, a kid; it decrypts with the consumer's private key",
			Why:    "the consumer decrypts every 200 with jose-jwt; whitespace around the token or clear JSON fails",
			Ref:    "kontrollinformasjon-api.md §9.2, §7.1; test-cases.md E-01", run: jweCase},
		{ID: "REF-CARDS-ROLES", Title: "Endpoints outside the service are refused", Checks: "GET accounts/{ref}/cards and /roles answer 400 ACC-001 when the service does not include them",
			Why: "only the service's endpoints may be used (" + svc.Title + ")", Ref: "konkursbehandling-rules.md §2; services.md", run: cardsRoles},
		{ID: "REF-UNKNOWN-PATH", Title: "A path that is no endpoint is refused", Checks: "GET foo and accounts/{ref}/transactions/x answer 400 ACC-001",
			Why: "requests to invalid endpoints get ACC-001", Ref: "kontrollinformasjon-api.md §8.3 row 3", run: unknownPath},
		{ID: "REF-METHOD", Title: "Only GET", Checks: "POST, PUT and DELETE on accounts answer 405 ACC-012",
			Why: "the API offers GET only", Ref: "kontrollinformasjon-api.md §8.3 row 1", run: methods, writes: true},
		{ID: "REF-MANDATE", Title: "A wrong Legal-Mandate is refused", Checks: "step 2a with another legal basis answers 400 ACC-001",
			Why: "the mandate must be valid for the consumer", Ref: "konkursbehandling-rules.md §5.1 item 2, §6", run: wrongMandate},
		{ID: "REF-ONLY-PRIMARY-OWNER", Title: "OnlyPrimaryOwner=false is refused", Checks: "step 2a with OnlyPrimaryOwner=false answers 400 ACC-001 when the service allows only TRUE",
			Why: "only accounts the party owns may be shown", Ref: "konkursbehandling-rules.md §1, §6; services.md", run: onlyPrimaryOwnerFalse},
		{ID: "REF-PARTYID", Title: "A malformed PartyID is refused", Checks: "step 2a with PartyID 12AB answers 400 ACC-001",
			Why: "every parameter's format is validated", Ref: "konkursbehandling-rules.md §5.1 item 7", run: badPartyID},
		{ID: "REF-WINDOW", Title: "fromDate more than " + w.LookBack.String() + " before the " + string(w.Anchor) + " is refused", Checks: "step 2a with fromDate = " + from + " − 1 day answers 400 ACC-001",
			Why: "the service allows " + w.LookBack.String() + " of history before the " + string(w.Anchor), Ref: "konkursbehandling-rules.md §3.4; test-cases.md K-02; services.md", run: window},
		{ID: "REF-NO-TOKEN", Title: "No token is refused", Checks: "step 2a without Authorization answers 401 ACC-010",
			Why: "no access without a valid Maskinporten token", Ref: "kontrollinformasjon-api.md §9.1", run: noToken},
		{ID: "REF-FORGED-TOKEN", Title: "A forged token is refused", Checks: "step 2a with a valid token whose signature was altered answers 401 ACC-010",
			Why: "the signature must be validated against Maskinporten's keys", Ref: "kontrollinformasjon-api.md §9.1", run: forgedToken},
		{ID: "REF-EXPIRED-TOKEN", Title: "An expired token is refused", Checks: "step 2a with a token that expired 10 minutes ago answers 401 ACC-010 (needs a token source that can mint one)",
			Why: "exp must be validated", Ref: "kontrollinformasjon-api.md §9.1", run: mintedRefusal(Expired, 401, "ACC-010")},
		{ID: "REF-SCOPE", Title: "A token without bits:kontoinformasjon is refused", Checks: "step 2a with scope bits:kundeforhold answers 403 ACC-011 (needs a token source that can mint one)",
			Why: "the Control API needs the scope bits:kontoinformasjon", Ref: "kontrollinformasjon-api.md §9.1; konkursbehandling-rules.md §5.2 item 2", run: mintedRefusal(WrongScope, 403, "ACC-011")},
		{ID: "REF-CONSUMER", Title: "Another consumer is refused", Checks: "step 2a with consumer 0192:889640782 (NAV) answers 403 ACC-011 (needs a token source that can mint one)",
			Why: "only " + strings.Join(svc.Consumers, ", ") + " may use " + svc.Title, Ref: "konkursbehandling-rules.md §1; services.md", run: mintedRefusal(WrongConsumer, 403, "ACC-011")},
		{ID: "REF-NOT-BANKRUPT", Title: "Parties the service's gate refuses are refused", Checks: "step 2a for each refused party (" + refusedParties(svc) + ") is refused (403 ACC-011, or 400 ACC-001) and gets no data",
			Why: "without the service's precondition (" + string(svc.Gate) + ") the request shall be rejected", Ref: "konkursbehandling-rules.md §5.2 item 1, §6; test-cases.md K-05..K-08; services.md", run: notBankrupt},
		{ID: "ERR-FORMAT", Title: "Every error is plain JSON {code, message}", Checks: "every non-200 answer of this run has Content-Type application/json and a body of exactly code (ACC-nnn) and a non-empty message; it is never encrypted",
			Why: "errors are machine-readable and not encrypted", Ref: "kontrollinformasjon-api.md §8.1; test-cases.md E-04", run: errFormat},
	}
}

// outcome collects a case's findings.
type outcome struct {
	fails, notes []string
}

func (o *outcome) fail(format string, args ...any) {
	o.fails = append(o.fails, fmt.Sprintf(format, args...))
}
func (o *outcome) note(format string, args ...any) {
	o.notes = append(o.notes, fmt.Sprintf(format, args...))
}

func (o *outcome) result() (Status, string) {
	if len(o.fails) > 0 {
		return Fail, strings.Join(o.fails, "; ")
	}
	return Pass, strings.Join(o.notes, "; ")
}

func flow2A(ctx context.Context, k *kit) (Status, string) {
	var o outcome
	for _, f := range k.runFlow(ctx) {
		if f.listErr != nil {
			o.fail("%s: %v", f.party.ID, f.listErr)
			continue
		}
		if err := k.validate("Accounts", f.list.Plain); err != nil {
			o.fail("%s: %v", f.party.ID, err)
			continue
		}
		o.note("%s: %d accounts", f.party.ID, len(f.refs))
	}
	return o.result()
}

func flowDetails(ctx context.Context, k *kit) (Status, string) {
	var o outcome
	total := 0
	for _, f := range k.runFlow(ctx) {
		ok := 0
		for _, ex := range f.details {
			total++
			switch {
			case ex.Err != nil || ex.Status != 200 || ex.Plain == nil:
				o.fail("%s: %s", f.party.ID, ex.describe())
			default:
				if err := k.validate("AccountDetails", ex.Plain); err != nil {
					o.fail("%s: %s: %v", f.party.ID, redact(ex.URL), err)
					continue
				}
				ok++
			}
		}
		if len(f.details) > 0 {
			o.note("%s: %d requested at once, %d answered", f.party.ID, len(f.details), ok)
		}
	}
	if total == 0 {
		return Skip, "no test party has accounts in step 2a"
	}
	return o.result()
}

func flowPaging(ctx context.Context, k *kit) (Status, string) {
	var o outcome
	accounts, multi := 0, 0
	for _, f := range k.runFlow(ctx) {
		for _, pg := range f.paging {
			accounts++
			name := f.party.ID + " account " + shortRef(pg.ref)
			if pg.err != nil {
				o.fail("%s: %v", name, pg.err)
				continue
			}
			for i, ex := range pg.pages {
				if err := k.validate("Transactions", ex.Plain); err != nil {
					o.fail("%s page %d: %v", name, i+1, err)
				}
				if pg.next[i] && pg.counts[i] < 1000 {
					o.fail("%s page %d: %d transactions on a page that is not the last (at least 1 000 expected)", name, i+1, pg.counts[i])
				}
			}
			if dup := firstDuplicate(pg.ids); dup != "" {
				o.fail("%s: transaction %s delivered twice", name, dup)
			}
			if len(pg.pages) > 1 {
				multi++
				if err := k.noGaps(ctx, f, pg); err != nil {
					o.fail("%s: %v", name, err)
				} else {
					o.note("%s: %d pages %v, the period's halves fetched apart give the same %d transactions", name, len(pg.pages), pg.counts, len(pg.ids))
				}
			}
		}
	}
	if accounts == 0 {
		return Skip, "no test party has accounts in step 2a"
	}
	if multi == 0 {
		o.note("no account had more than one page: next was not exercised (give a test party with over 1 000 transactions in the window)")
	}
	return o.result()
}

// noGaps fetches the two halves of the period apart: together they must give exactly the
// transactions of the whole period, each once.
func (k *kit) noGaps(ctx context.Context, f *partyFlow, whole *paging) error {
	days := int(f.to.In(time.UTC).Sub(f.from.In(time.UTC)).Hours() / 24)
	mid := f.from.AddDate(0, 0, days/2)
	first := k.pageAll(ctx, whole.ref, f.from, mid, f.caseID)
	second := k.pageAll(ctx, whole.ref, mid.AddDate(0, 0, 1), f.to, f.caseID)
	for _, h := range []*paging{first, second} {
		if h.err != nil {
			return fmt.Errorf("half period: %v", h.err)
		}
	}
	halves := append(slices.Clone(first.ids), second.ids...)
	if dup := firstDuplicate(halves); dup != "" {
		return fmt.Errorf("transaction %s is in both halves of the period", dup)
	}
	a, b := slices.Clone(whole.ids), halves
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		return fmt.Errorf("the whole period gave %d transactions, its two halves %d: pages lose or add transactions", len(a), len(b))
	}
	return nil
}

func jweCase(ctx context.Context, k *kit) (Status, string) {
	k.runFlow(ctx)
	var o outcome
	n := 0
	k.mu.Lock()
	exchanges := slices.Clone(k.exchanges)
	k.mu.Unlock()
	for _, ex := range exchanges {
		if ex.Status != 200 {
			continue
		}
		n++
		if ex.JWE != nil && len(o.fails) < 5 {
			o.fail("%s: %v", ex.describe(), ex.JWE)
		}
	}
	if n == 0 {
		return Fail, "no 200 answer to judge: see the FLOW cases"
	}
	o.note("%d answers checked", n)
	return o.result()
}

// check is one request of a refusal case: what was seen, and whether it was what the standard
// expects.
type check struct {
	seen string
	err  error
}

// refusal sends r and expects status and one of codes; it never accepts a 200.
func refusal(ctx context.Context, k *kit, r request, status int, codes ...string) check {
	ex := k.do(ctx, r)
	if ex.Err != nil {
		return check{err: errors.New(ex.describe())}
	}
	code := errorCode(ex)
	seen := fmt.Sprintf("%s %s → %d %s", ex.Method, pathOf(ex.URL, k.o.BaseURL), ex.Status, code)
	if msg := errorMessage(ex); msg != "" {
		seen += fmt.Sprintf(" %q", clip(msg, 200))
	}
	seen += fmt.Sprintf(" [AccountInfoRequestID %s, CorrelationID %s]", ex.CaseID, ex.CorrelationID)
	if ex.Status != status || !slices.Contains(codes, code) {
		return check{seen, fmt.Errorf("%s, expected %d %s", seen, status, strings.Join(codes, " or "))}
	}
	return check{seen: seen}
}

// pathOf is the part of u after the base URL, without the query: short evidence.
func pathOf(u, base string) string {
	return strings.TrimPrefix(redact(u), strings.TrimSuffix(base, "/"))
}

// accountsRequest is a valid step 2a request for the first test party, to be broken by a case.
func (k *kit) accountsRequest(q url.Values) request {
	p := k.o.Parties[0]
	v := url.Values{"OnlyPrimaryOwner": {"true"}, "fromDate": {k.earliest(p).String()}, "toDate": {k.today.String()}}
	for key, vals := range q {
		v[key] = vals
	}
	return request{url: k.url("accounts?" + v.Encode()), party: p.ID}
}

// someRef is an accountReference from step 2a, or a made-up one.
func (k *kit) someRef(ctx context.Context) string {
	for _, f := range k.runFlow(ctx) {
		if len(f.refs) > 0 {
			return f.refs[0]
		}
	}
	return "conformanceNoSuchAccount"
}

func verdict(checks ...check) (Status, string) {
	var o outcome
	for _, c := range checks {
		if c.err != nil {
			o.fail("%v", c.err)
		} else {
			o.note("%s", c.seen)
		}
	}
	return o.result()
}

func cardsRoles(ctx context.Context, k *kit) (Status, string) {
	ref := url.PathEscape(k.someRef(ctx))
	q := "?fromDate=" + k.earliest(k.o.Parties[0]).String() + "&toDate=" + k.today.String()
	var checks []check
	for _, e := range []dsopservice.Endpoint{dsopservice.Cards, dsopservice.Roles} {
		if !k.o.Service.Allows(e) {
			checks = append(checks, refusal(ctx, k, request{url: k.url("accounts/" + ref + "/" + string(e) + q)}, 400, "ACC-001"))
		}
	}
	if len(checks) == 0 {
		return Skip, k.o.Service.Title + " includes both endpoints"
	}
	return verdict(checks...)
}

func unknownPath(ctx context.Context, k *kit) (Status, string) {
	ref := url.PathEscape(k.someRef(ctx))
	return verdict(
		refusal(ctx, k, request{url: k.url("foo")}, 400, "ACC-001"),
		refusal(ctx, k, request{url: k.url("accounts/" + ref + "/transactions/x")}, 400, "ACC-001"),
	)
}

func methods(ctx context.Context, k *kit) (Status, string) {
	var checks []check
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		r := k.accountsRequest(nil)
		r.method = m
		checks = append(checks, refusal(ctx, k, r, 405, "ACC-012"))
	}
	return verdict(checks...)
}

func wrongMandate(ctx context.Context, k *kit) (Status, string) {
	r := k.accountsRequest(nil)
	r.mandate = "skatteforvaltningsloven%20%C2%A7%2010-2" // a real legal basis, of another service
	return verdict(refusal(ctx, k, r, 400, "ACC-001"))
}

func onlyPrimaryOwnerFalse(ctx context.Context, k *kit) (Status, string) {
	if k.o.Service.AllowsOnlyPrimaryOwner("false") {
		return Skip, k.o.Service.Title + " allows OnlyPrimaryOwner=FALSE"
	}
	return verdict(refusal(ctx, k, k.accountsRequest(url.Values{"OnlyPrimaryOwner": {"false"}}), 400, "ACC-001"))
}

func badPartyID(ctx context.Context, k *kit) (Status, string) {
	r := k.accountsRequest(nil)
	r.party = "12AB"
	return verdict(refusal(ctx, k, r, 400, "ACC-001"))
}

func window(ctx context.Context, k *kit) (Status, string) {
	p := k.o.Parties[0]
	return verdict(refusal(ctx, k, k.accountsRequest(url.Values{"fromDate": {k.earliest(p).AddDate(0, 0, -1).String()}}), 400, "ACC-001"))
}

func noToken(ctx context.Context, k *kit) (Status, string) {
	r := k.accountsRequest(nil)
	r.noAuth = true
	return verdict(refusal(ctx, k, r, 401, "ACC-010"))
}

func forgedToken(ctx context.Context, k *kit) (Status, string) {
	tok, err := k.token(ctx)
	if err != nil {
		return verdict(check{err: fmt.Errorf("token: %w", err)})
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[2]) < 8 {
		return Fail, "the token source gave something that is not a signed JWT"
	}
	sig := []byte(parts[2])
	i := len(sig) / 2
	sig[i] = map[bool]byte{true: 'B', false: 'A'}[sig[i] == 'A']
	r := k.accountsRequest(nil)
	r.token = parts[0] + "." + parts[1] + "." + string(sig)
	return verdict(refusal(ctx, k, r, 401, "ACC-010"))
}

func mintedRefusal(kind TokenKind, status int, code string) func(context.Context, *kit) (Status, string) {
	return func(ctx context.Context, k *kit) (Status, string) {
		tok, err := k.o.Tokens.Token(ctx, kind)
		if errors.Is(err, ErrCannotMint) {
			return Skip, "the token source cannot mint such a token (use the development issuer)"
		}
		if err != nil {
			return Fail, "token: " + err.Error()
		}
		r := k.accountsRequest(nil)
		r.token = tok
		return verdict(refusal(ctx, k, r, status, code))
	}
}

func notBankrupt(ctx context.Context, k *kit) (Status, string) {
	if len(k.o.Refused) == 0 {
		return Skip, "no party without an open bankruptcy given"
	}
	// A refusal proves something only if the bank serves the parties it should: a bank that
	// refuses everyone would pass otherwise (issue #27).
	served := false
	for _, f := range k.runFlow(ctx) {
		served = served || (f.listErr == nil && f.list != nil && f.list.Status == http.StatusOK)
	}
	if !served {
		return Fail, "no test party was served in step 2a (see FLOW-2A), so these refusals prove nothing"
	}
	var o outcome
	for _, party := range k.o.Refused {
		v := url.Values{"OnlyPrimaryOwner": {"true"}, "fromDate": {k.o.Service.Window.Earliest(k.today).String()}, "toDate": {k.today.String()}}
		r := request{url: k.url("accounts?" + v.Encode()), party: party}
		ex := k.do(ctx, r)
		code := errorCode(ex)
		// 403 ACC-011 is recommended, 400 ACC-001 the alternative reading (rules §6).
		if (ex.Status == 403 && code == "ACC-011") || (ex.Status == 400 && code == "ACC-001") {
			o.note("%s: %s", party, ex.describe())
		} else {
			o.fail("party %s: %s, expected 403 ACC-011 (or 400 ACC-001)", party, ex.describe())
		}
	}
	return o.result()
}

func errFormat(_ context.Context, k *kit) (Status, string) {
	var o outcome
	n := 0
	k.mu.Lock()
	exchanges := slices.Clone(k.exchanges)
	k.mu.Unlock()
	for _, ex := range exchanges {
		if ex.Err != nil || ex.Status == 200 {
			continue
		}
		n++
		if err := errorBody(ex); err != nil && len(o.fails) < 5 {
			o.fail("%s: %v", ex.describe(), err)
		}
	}
	if n == 0 {
		return Fail, "no error answer to judge"
	}
	o.note("%d error answers checked", n)
	return o.result()
}

func firstDuplicate(ids []string) string {
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return id
		}
		seen[id] = true
	}
	return ""
}

func shortRef(ref string) string {
	if len(ref) > 8 {
		return ref[:8] + "…"
	}
	return ref
}

// refusedParties says which parties the service's gate refuses, for a case's description.
func refusedParties(svc dsopservice.Service) string {
	switch svc.Gate {
	case dsopservice.GateBankruptcy:
		return "bankruptcy annulled, reversed or closed, or never notified"
	case dsopservice.GateDeceased:
		return "not known to the bank as deceased"
	}
	return "refused by the service's precondition"
}
