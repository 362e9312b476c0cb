package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/oed"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// Services on the Control API v2 (issue #30): one server answers Konkursbehandling, Oppgjør
// etter dødsfall and a test-only profile, routing each request by (consumer, Legal-Mandate).

const (
	deceased     = "12034510170" // the demo bank's Arvid Avdød, dead 2026-09-15
	deathWindow  = "2026-06-15"  // date of death − 3 months
	heir         = "05075210061" // living; took over the savings account on 2026-08-01
	oedCurrent   = "15038660109"
	oedSavings   = "15038660206" // the deceased's until 2026-07-31
	testConsumer = "0192:889640782"
	testMandate  = "Testlov § 1, jf. forskrift om testing"
)

var (
	brregConsumer = dsopservice.Konkursbehandling().Consumers[0]
	oedConsumer   = dsopservice.OED().Consumers[0]
	oedMandate    = dsopservice.OED().Mandates[0]
)

// testProfile is a service of the shape the others need (services.md rows 3–6): all five
// endpoints, OnlyPrimaryOwner TRUE or FALSE, RequesterID required. Its delivery tables are
// Konkursbehandling's plus rows for Cards and Roles.
func testProfile() dsopservice.Service {
	return dsopservice.Service{
		Name: "testprofile", Title: "Testtjeneste", Consumers: []string{testConsumer}, Mandates: []string{testMandate},
		Scopes:           []string{"bits:kontoinformasjon"},
		Endpoints:        []dsopservice.Endpoint{dsopservice.Accounts, dsopservice.Account, dsopservice.Transactions, dsopservice.Cards, dsopservice.Roles},
		OnlyPrimaryOwner: []string{"TRUE", "FALSE"}, RequiredHeaders: []string{"RequesterID"},
		Window: dsopservice.Window{Anchor: dsopservice.AnchorToday, LookBack: dsopservice.Period{Years: 10}},
		Gate:   dsopservice.GateNone,
		Delivery: dsopservice.Konkursbehandling().Delivery + strings.Join([]string{
			"roles,responseDetails.status,D,teknisk-obligatorisk,emit", "roles,responseDetails.message,D,skal-utleveres,emit",
			"roles,roles.identifier.value,MC,teknisk-obligatorisk,emit", "roles,roles.identifier.type,MC,teknisk-obligatorisk,emit",
			"roles,roles.name,D,skal-utleveres,emit", "roles,roles.permission,D,skal-utleveres,emit",
			"roles,roles.startDate,D,skal-utleveres,emit", "roles,roles.endDate,D,skal-utleveres,emit",
			"cards,responseDetails.status,D,teknisk-obligatorisk,emit", "cards,responseDetails.message,D,skal-utleveres,emit",
			"cards,paymentCards.cardIdentifier,MC,teknisk-obligatorisk,emit",
		}, "\n") + "\n",
	}
}

// openDecider serves any primary owner within the window from today (the test profile's gate is
// none; its account selection for OnlyPrimaryOwner=FALSE is a real service's to state).
type openDecider struct{ store accounts.Store }

func (o openDecider) ForParty(ctx context.Context, party string, p civil.Period) (konkursbehandling.Decision, []accounts.Holding, error) {
	accts, err := o.store.AccountsWithRole(ctx, party)
	var out []accounts.Holding
	for _, a := range accts {
		if h, ok := konkursbehandling.Holding(a, party, p); ok {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account.Reference < out[j].Account.Reference })
	return konkursbehandling.Decision{Party: party, Period: p}, out, err
}

func (o openDecider) ForAccount(ctx context.Context, ref string, p civil.Period) (konkursbehandling.Decision, accounts.Holding, error) {
	a, err := o.store.AccountByReference(ctx, ref)
	if err != nil {
		return konkursbehandling.Decision{}, accounts.Holding{}, err
	}
	for _, owner := range konkursbehandling.PrimaryOwners(a) {
		if h, ok := konkursbehandling.Holding(a, owner, p); ok {
			return konkursbehandling.Decision{Party: owner, Period: p}, h, nil
		}
	}
	return konkursbehandling.Decision{}, accounts.Holding{}, accounts.ErrAccountNotFound
}

// threeServices serves Konkursbehandling (the harness's wiring), OED and the test profile from
// one NewServer.
func threeServices(t *testing.T) *harness {
	return newHarness(t, func(d *httpapi.Deps) {
		store := d.Accounts.Store
		profile := func(svc dsopservice.Service, decide httpapi.Decider) httpapi.Profile {
			policy, err := filter.NewTable(svc.Delivery, filter.Overrides{})
			require.NoError(t, err)
			own := *d.Accounts
			own.DeliveryPolicy = policy.Fingerprint()
			return httpapi.Profile{Service: svc, Decide: decide, Policy: policy, Accounts: &own}
		}
		d.Services = []httpapi.Profile{
			{Service: dsopservice.Konkursbehandling(), Decide: d.Decide, Policy: d.Policy},
			profile(dsopservice.OED(), &oed.Decider{Deaths: oed.BankDeaths{Parties: store}, Accounts: store}),
			profile(testProfile(), openDecider{store}),
		}
		d.Tokens.(*validation.TokenValidator).AllowedConsumers = []string{brregConsumer, oedConsumer, testConsumer}
	})
}

// as is a valid request's headers for a consumer and a mandate (decoded: sent the .NET way).
func (h *harness) as(consumer, decodedMandate, party string) http.Header {
	hd := h.headers(party)
	hd.Set("Authorization", "Bearer "+h.token(devissuer.Options{Consumer: consumer}))
	hd.Set("Legal-Mandate", url.PathEscape(decodedMandate))
	return hd
}

func TestServices_EachServiceRefusesTheOthersMandatesAndConsumers(t *testing.T) {
	h := threeServices(t)
	kbMandate := dsopservice.Konkursbehandling().Mandates[0]
	for _, c := range []struct {
		name, consumer, mandate string
		status                  int
		code                    string
	}{
		{"BRREG with the OED mandate", brregConsumer, oedMandate, 403, "ACC-011"},
		{"Digdir with the Konkursbehandling mandate", oedConsumer, kbMandate, 403, "ACC-011"},
		{"the test consumer with the OED mandate", testConsumer, oedMandate, 403, "ACC-011"},
		{"BRREG with the test mandate", brregConsumer, testMandate, 403, "ACC-011"},
		{"a mandate of no enabled service", oedConsumer, "Skatteforvaltningsloven § 10-2 første ledd", 400, "ACC-001"},
		{"a consumer of no enabled service", "0192:974761076", kbMandate, 403, "ACC-011"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := h.do(http.MethodGet, accountsURL(deathWindow, today), withAccept(h.as(c.consumer, c.mandate, deceased), "application/json"))
			requireProblem(t, rec, c.status, c.code)
			r := h.latest()
			require.Equal(t, c.status, r.Status, "recorded")
			require.Empty(t, r.Service, "refused before it could be routed to a service")
		})
	}
	// The mandate compared after white-space normalisation: a line-wrapped copy names the same law.
	wrapped := strings.Replace(oedMandate, " og ", "  og\n", 1)
	rec := h.do(http.MethodGet, accountsURL(deathWindow, today), h.as(oedConsumer, wrapped, deceased))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	// Each service still serves its own.
	rec = h.do(http.MethodGet, accountsURL(earliest, today), h.as(brregConsumer, kbMandate, openOrg))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, "konkursbehandling", h.latest().Service)
}

func TestServices_OEDServesTheDeceasedWithinTheWindowAndItsTables(t *testing.T) {
	h := threeServices(t)
	hd := h.as(oedConsumer, oedMandate, deceased)
	rec := h.do(http.MethodGet, accountsURL(deathWindow, today), hd)
	list := decode[dsop.Accounts](t, rec)
	var numbers []string
	for _, a := range *list.Accounts {
		numbers = append(numbers, a.AccountIdentifier)
		require.Nil(t, a.Name, "accounts.name is 'utleveres ikke' in the OED tables")
	}
	require.ElementsMatch(t, []string{oedCurrent, oedSavings}, numbers, "the accounts the deceased owned in the window, the one sold in July included")
	r := h.latest()
	require.Equal(t, "oed", r.Service)
	require.Equal(t, dsopservice.OED().Mandates[0], r.LegalMandate)

	// The savings account is delivered for the deceased's days only: no transaction after July.
	page := decode[dsop.Transactions](t, h.do(http.MethodGet, accountURL(h.ref(oedSavings), "/transactions", deathWindow, today), h.as(oedConsumer, oedMandate, "")))
	for _, tr := range *page.Transactions {
		require.False(t, tr.BookingDate.After(civil.MustParse("2026-07-31").In(oslo).AddDate(0, 0, 1)), "a transaction of the heir's: %s", tr.TransactionIdentifier)
	}
	require.Len(t, *page.Transactions, 1, "July 20th: the earlier ones are before the window, the later ones the heir's")

	// Each service's own table: the servicer's name is 'skal utleveres' in account details for
	// OED and 'utleveres ikke' for Konkursbehandling.
	details := decode[dsop.AccountDetails](t, h.do(http.MethodGet, accountURL(h.ref(oedCurrent), "", deathWindow, today), h.as(oedConsumer, oedMandate, "")))
	require.NotNil(t, details.Account.Servicer.Name)
	kb := decode[dsop.AccountDetails](t, h.do(http.MethodGet, accountURL(h.ref(pagingAccount), "", earliest, today), h.as(brregConsumer, dsopservice.Konkursbehandling().Mandates[0], "")))
	require.Nil(t, kb.Account.Servicer.Name)
}

func TestServices_OEDRefusals(t *testing.T) {
	h := threeServices(t)
	// A fromDate earlier than date of death − 3 months.
	p := requireProblem(t, h.do(http.MethodGet, accountsURL("2026-06-14", today), h.as(oedConsumer, oedMandate, deceased)), 400, "ACC-001")
	require.Contains(t, p.Message, "3 months before the date of death 2026-09-15")
	require.Contains(t, p.Message, "the earliest allowed fromDate is 2026-06-15")
	require.Equal(t, "window", h.latest().Reason)
	// A living customer, and a person the bank does not know.
	for _, party := range []string{heir, "17093810120"} {
		p = requireProblem(t, h.do(http.MethodGet, accountsURL(deathWindow, today), h.as(oedConsumer, oedMandate, party)), 403, "ACC-011")
		require.Contains(t, p.Message, "does not know this party as deceased")
		require.Equal(t, "not-deceased", h.latest().Reason)
	}
	// Cards and Roles are not part of OED.
	for _, e := range []string{"/cards", "/roles"} {
		p = requireProblem(t, h.do(http.MethodGet, accountURL(h.ref(oedCurrent), e, deathWindow, today), h.as(oedConsumer, oedMandate, "")), 400, "ACC-001")
		require.Contains(t, p.Message, "Oppgjør etter dødsfall")
	}
	// OnlyPrimaryOwner=FALSE is refused for OED.
	target := strings.Replace(accountsURL(deathWindow, today), "OnlyPrimaryOwner=true", "OnlyPrimaryOwner=false", 1)
	requireProblem(t, h.do(http.MethodGet, target, h.as(oedConsumer, oedMandate, deceased)), 400, "ACC-001")
	// An account of the heir's only (after the death) is not found for OED.
	requireProblem(t, h.do(http.MethodGet, accountURL(h.ref(oedSavings), "", "2026-08-01", today), h.as(oedConsumer, oedMandate, "")), 404, "ACC-002")
}

func TestServices_TheTestProfileCarriesWhatOtherServicesNeed(t *testing.T) {
	h := threeServices(t)
	hd := h.as(testConsumer, testMandate, guarantor)
	// RequesterID is required by this service only.
	requireProblem(t, h.do(http.MethodGet, accountsURL(earliest, today), hd), 400, "ACC-001")
	hd.Set("RequesterID", "12345678901")
	for _, only := range []string{"true", "false"} {
		rec := h.do(http.MethodGet, strings.Replace(accountsURL(earliest, today), "=true", "="+only, 1), hd)
		require.Equal(t, http.StatusOK, rec.Code, "OnlyPrimaryOwner=%s: %s", only, rec.Body.String())
	}
	ref := h.ref(pagingAccount)
	hd.Del("PartyID")
	roles := decode[dsop.Roles](t, h.do(http.MethodGet, accountURL(ref, "/roles", earliest, today), hd))
	require.NotEmpty(t, *roles.Roles)
	require.Equal(t, guarantor, (*roles.Roles)[0].Identifier.Value)
	cards := decode[dsop.Cards](t, h.do(http.MethodGet, accountURL(ref, "/cards", earliest, today), hd))
	require.Equal(t, dsop.Partial, cards.ResponseDetails.Status, "the bank data holds no cards, and the answer says so")
	require.Equal(t, "testprofile", h.latest().Service)
}

// plugin-banking is the OED consumer (services.md): replayed as itself, with its default window
// "now − 3 months … now" when its caller gives none, it keeps every account of the deceased.
func TestPeers_PluginBankingAsItselfWithItsDefaultWindow(t *testing.T) {
	h := threeServices(t)
	from := civil.Today(now, oslo).AddDate(0, -3, 0).String()
	kept, statuses := pluginBankingRunPeriod(t, h, deceased, h.as(oedConsumer, oedMandate, ""), from, today)
	require.NotNil(t, kept, "statuses %v", statuses)
	require.Contains(t, kept, h.ref(oedCurrent))
	require.Equal(t, 6, kept[h.ref(oedCurrent)], "the pension and an invoice each month from August to November, booked in the window")
	var records []audit.Record
	require.NoError(t, h.audit.Scan(context.Background(), func(r audit.Record) error { records = append(records, r); return nil }))
	for _, r := range records {
		require.Equal(t, "oed", r.Service)
		require.Equal(t, oedConsumer, r.Consumer)
	}
}

// latest is the last audit record written.
func (h *harness) latest() audit.Record {
	h.t.Helper()
	recs := h.audit.Records()
	require.NotEmpty(h.t, recs)
	return recs[len(recs)-1]
}

// The rate budget is per service and consumer: BRREG spending its burst leaves Digdir's whole,
// and a service may have its own budget (DSOP_SERVICE_<NAME>_RATE_LIMIT).
func TestServices_RateBudgetPerServiceAndConsumer(t *testing.T) {
	h := newHarness(t, func(d *httpapi.Deps) {
		store := d.Accounts.Store
		policy, err := filter.NewTable(dsopservice.OED().Delivery, filter.Overrides{})
		require.NoError(t, err)
		d.Admission = &httpapi.Admission{Rate: 0.001, Burst: 2, Concurrency: 4}
		d.Services = []httpapi.Profile{
			{Service: dsopservice.Konkursbehandling(), Decide: d.Decide, Policy: d.Policy},
			{Service: dsopservice.OED(), Decide: &oed.Decider{Deaths: oed.BankDeaths{Parties: store}, Accounts: store}, Policy: policy,
				Admission: &httpapi.Admission{Rate: 0.001, Burst: 3, Concurrency: 4}},
		}
		d.Tokens.(*validation.TokenValidator).AllowedConsumers = []string{brregConsumer, oedConsumer}
	})
	kb := func() int {
		return h.do(http.MethodGet, accountsURL(earliest, today), h.as(brregConsumer, dsopservice.Konkursbehandling().Mandates[0], openOrg)).Code
	}
	oedCall := func() int {
		return h.do(http.MethodGet, accountsURL(deathWindow, today), h.as(oedConsumer, oedMandate, deceased)).Code
	}
	require.Equal(t, []int{200, 200, 429}, []int{kb(), kb(), kb()}, "Konkursbehandling's burst of 2")
	require.Equal(t, []int{200, 200, 200, 429}, []int{oedCall(), oedCall(), oedCall(), oedCall()}, "OED's own burst of 3, untouched by BRREG's")
}
