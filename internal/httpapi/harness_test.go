package httpapi_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/buffers"
	"github.com/dsop-bank/dsop-bank/internal/certpub"
	"github.com/dsop-bank/dsop-bank/internal/certpub/certpubtest"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

const (
	baseURL = "https://api.testbank.no/dsop/v2"
	mandate = "kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721"

	// Parties of the demo bank and demo notices (kjennelsesdato 2018-06-08 for the first three).
	openOrg        = "910336819" // aapning; owns 2 accounts, disponent on a third
	openPerson     = "08086001471"
	noAccounts     = "21097400153" // aapning 2018-07-03, no accounts
	guarantor      = "20020101351" // aapning; guarantor/co-borrower on a loan; owns the paging account
	closedOrg      = "910375237"   // aapning → avslutning
	annulledOrg    = "910425463"   // aapning → sletting
	reversedPerson = "19020101140" // aapning → oppheving
	noNotice       = "974760673"   // BRREG itself: valid, never notified
	healthyOrg     = "900308841"   // customer without any notice
)

var (
	earliest = "2017-06-08"
	oslo, _  = time.LoadLocation("Europe/Oslo")
	now      = time.Date(2026, 11, 23, 10, 0, 0, 0, oslo)
	today    = "2026-11-23"
)

// pagingAccount is an extra account of guarantor with 2 500 transactions in the window, two on
// the window's boundaries and two just outside.
const pagingAccount = "15030000006"

type harness struct {
	t        testing.TB
	handler  http.Handler
	issuer   *devissuer.Issuer
	jwksHits atomic.Int32
	refs     accounts.Referencer
	logs     *strings.Builder
	audit    *audit.MemoryStore
	// consumerKey decrypts the JWE answers (the consumer's certificate is in the encrypter).
	consumerKey *rsa.PrivateKey
}

type option func(*httpapi.Deps)

// bankWorld is the bank data behind a harness: the demo bank and the paging account, plus any
// extra accounts, in the embedded store or, with openStore, another store loaded with it.
type bankWorld struct {
	extra     []accounts.Account
	openStore func(t testing.TB, bd *accounts.BankData, refs accounts.Referencer) accounts.Store
}

func newHarness(t testing.TB, opts ...option) *harness {
	t.Helper()
	return newHarnessWith(t, bankWorld{}, opts...)
}

func newHarnessWith(t testing.TB, world bankWorld, opts ...option) *harness {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	h := &harness{t: t, logs: &strings.Builder{}, audit: &audit.MemoryStore{}}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.jwksHits.Add(1)
		_ = json.NewEncoder(w).Encode(h.issuer.JWKS())
	}))
	t.Cleanup(jwks.Close)
	h.issuer, err = devissuer.New(key, "https://test.maskinporten.no/", baseURL)
	require.NoError(t, err)

	bd, err := accounts.DecodeBankData(demo.BankData())
	require.NoError(t, err)
	bd.Accounts = append(bd.Accounts, pagingBankAccount())
	bd.Accounts = append(bd.Accounts, world.extra...)
	require.NoError(t, bd.Validate())
	notices := konkursvarsel.NewMemoryStore()
	list, rejected, err := konkursvarsel.ParseList(demo.Konkursvarsler())
	require.NoError(t, err)
	require.Empty(t, rejected)
	_, err = notices.Apply(context.Background(), list)
	require.NoError(t, err)
	policy, err := filter.New(filter.Overrides{})
	require.NoError(t, err)
	ca, err := certpubtest.NewTestCA()
	require.NoError(t, err)
	cert, ckey, err := ca.Issue("974760673", now.Add(-time.Hour), now.AddDate(1, 0, 0), x509.KeyUsageKeyEncipherment)
	require.NoError(t, err)
	h.consumerKey = ckey
	secret := []byte("0123456789abcdef0123456789abcdef")
	h.refs = accounts.NewReferencer(secret)
	store := accounts.Store(accounts.NewMemoryStore(bd, h.refs))
	if world.openStore != nil {
		store = world.openStore(t, bd, h.refs)
	}
	clock := func() time.Time { return now }
	d := httpapi.Deps{
		Logger: slog.New(slog.NewJSONHandler(h.logs, nil)),
		Tokens: &validation.TokenValidator{
			Keys:   &validation.JWKS{URL: jwks.URL, Client: jwks.Client(), TTL: time.Hour, MinRefresh: 0, Now: clock},
			Issuer: "https://test.maskinporten.no/", Audience: baseURL,
			AllowedConsumers: []string{dsopservice.Konkursbehandling().Consumers[0]}, Skew: 10 * time.Second, Now: clock,
		},
		Rules:     validation.Rules{ToDate: validation.ToDateNotInFuture},
		Decide:    &konkursbehandling.Decider{Bankruptcies: &konkursbehandling.Gate{Store: notices}, Accounts: store},
		Accounts:  &accounts.Service{Store: store, Loc: oslo, PageSize: 1000, Now: clock, DeliveryPolicy: policy.Fingerprint(), Pages: &buffers.Pool{}},
		Cursors:   accounts.NewCursorCodec(secret),
		Audit:     h.audit,
		Encrypter: &encryption.Encrypter{Certs: &certpub.FileSource{Cert: cert, Checker: certpub.Checker{Now: clock}}, Enc: encryption.A128CBCHS256},
		Policy:    policy,
		Mode:      httpapi.ModeTest,
		Loc:       oslo,
		Now:       clock,
	}
	for _, o := range opts {
		o(&d)
	}
	h.handler = httpapi.NewServer(d)
	return h
}

func pagingBankAccount() accounts.Account {
	a := accounts.Account{
		AccountNumber: pagingAccount, Type: dsop.BusinessAccount, Currency: "NOK", Status: dsop.Disabled,
		StartDate: civil.MustParse("2016-01-01"),
		Roles:     []accounts.Role{{PartyID: guarantor, Role: accounts.RolePrimaryOwner, StartDate: civil.MustParse("2016-01-01")}},
	}
	add := func(id string, at time.Time) {
		amt := json.Number("10.00")
		a.Transactions = append(a.Transactions, dsop.Transaction{
			TransactionIdentifier: id, BookingDate: &at, Amount: &amt,
			CreditDebitIndicator: ptr(dsop.CreditOrDebitCredit), Status: ptr(dsop.TransactionStatusBooked),
		})
	}
	start := time.Date(2018, 1, 1, 12, 0, 0, 0, oslo)
	for i := range 2496 {
		// Several transactions share a booking time: the order must still be total.
		add(fmt.Sprintf("p-%05d", i), start.Add(time.Duration(i/3)*6*time.Hour))
	}
	add("edge-from", time.Date(2017, 6, 8, 0, 0, 0, 0, oslo))
	add("edge-to", time.Date(2026, 11, 23, 23, 59, 59, 0, oslo))
	add("before", time.Date(2017, 6, 7, 23, 59, 59, 0, oslo))
	add("after", time.Date(2026, 11, 24, 0, 0, 0, 0, oslo))
	add("mid-a", time.Date(2020, 2, 2, 2, 2, 2, 0, oslo))
	add("mid-b", time.Date(2020, 2, 2, 2, 2, 2, 0, oslo))
	return a
}

func ptr[T any](v T) *T { return &v }

// token mints a token; the zero Options give a valid BRREG token.
func (h *harness) token(o devissuer.Options) string {
	h.t.Helper()
	if o.Now.IsZero() {
		o.Now = now
	}
	tok, err := h.issuer.Mint(o)
	require.NoError(h.t, err)
	return tok
}

// headers are the headers of a valid request; PartyID is added for step 2a.
func (h *harness) headers(party string) http.Header {
	hd := http.Header{}
	hd.Set("Authorization", "Bearer "+h.token(devissuer.Options{}))
	hd.Set("AccountInfoRequestID", "d4a820ca-ddde-11ed-b5ea-0242ac120002")
	hd.Set("CorrelationID", "14fbc062-aacb-4449-93c1-85c352d387a4")
	hd.Set("Legal-Mandate", mandate)
	hd.Set("Accept", "application/json")
	if party != "" {
		hd.Set("PartyID", party)
	}
	return hd
}

func (h *harness) do(method, target string, hd http.Header) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hd {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return rec
}

func accountsURL(from, to string) string {
	return fmt.Sprintf("/v2/accounts?OnlyPrimaryOwner=true&fromDate=%s&toDate=%s", from, to)
}

func accountURL(ref, suffix, from, to string) string {
	return fmt.Sprintf("/v2/accounts/%s%s?fromDate=%s&toDate=%s", ref, suffix, from, to)
}

// ref is the accountReference of an account number.
func (h *harness) ref(accountNumber string) string { return h.refs.Reference(accountNumber) }

// demoAccount returns the account number of the demo account of party with type typ.
func demoAccount(t *testing.T, party string, typ dsop.AccountType) string {
	t.Helper()
	bd, err := accounts.DecodeBankData(demo.BankData())
	require.NoError(t, err)
	for _, a := range bd.Accounts {
		for _, r := range a.Roles {
			if r.PartyID == party && r.Role == accounts.RolePrimaryOwner && a.Type == typ {
				return a.AccountNumber
			}
		}
	}
	t.Fatalf("no %s account of %s in the demo bank", typ, party)
	return ""
}

type problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// requireProblem asserts an error answer: status, code, plain JSON, a message, and no account
// data in the body.
func requireProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) problem {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var p problem
	dec := json.NewDecoder(strings.NewReader(rec.Body.String()))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&p), rec.Body.String())
	require.Equal(t, code, p.Code, p.Message)
	require.NotEmpty(t, p.Message)
	for _, leak := range []string{`"accountIdentifier":`, `"accountReference":`, `"transactions":`, `"balances":`, `"1503`} {
		require.NotContains(t, rec.Body.String(), leak)
	}
	return p
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
	return v
}

// follow turns a links[].href into the request the real consumer makes (Digdir's plugin-banking,
// kontrollinformasjon-api.md §7): the registered base URL with a trailing slash, plus the href
// without its leading slash — string concatenation, not RFC 3986 resolution. The harness's
// registered base URL is baseURL (https://api.testbank.no/dsop/v2); its gateway maps /dsop/v2/…
// to this server's /v2/…, so the target returned is the path the server receives.
func follow(t testing.TB, href string) string {
	t.Helper()
	abs := strings.TrimSuffix(baseURL, "/") + "/" + strings.TrimPrefix(href, "/")
	u, err := url.Parse(abs)
	require.NoError(t, err, abs)
	require.Equal(t, "api.testbank.no", u.Host)
	rest, ok := strings.CutPrefix(u.EscapedPath(), "/dsop/v2/")
	require.True(t, ok, "the consumer's URL %s must stay under the registered base URL", abs)
	return "/v2/" + rest + "?" + u.RawQuery
}
