package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
)

// lastRecord asserts that exactly one record was added since before and returns it.
func (h *harness) lastRecord(before int) audit.Record {
	h.t.Helper()
	recs := h.audit.Records()
	require.Len(h.t, recs, before+1, "exactly one audit record per request")
	return recs[len(recs)-1]
}

func TestAudit_EveryRequestAllowedOrRefusedHasExactlyOneRecord(t *testing.T) {
	h := newHarness(t)
	ref := h.ref(demoAccount(t, openOrg, dsop.BusinessAccount))
	expired := h.headers(openOrg)
	expired.Set("Authorization", "Bearer "+h.token(devissuer.Options{TTL: -1e12}))
	wrongScope := h.headers(openOrg)
	wrongScope.Set("Authorization", "Bearer "+h.token(devissuer.Options{Scope: "bits:kundeforhold"}))
	cases := []struct {
		name, method, target string
		hd                   http.Header
		status               int
		code, reason         string
	}{
		{"2a allowed", "GET", accountsURL(earliest, today), h.headers(openOrg), 200, "", ""},
		{"2b details", "GET", accountURL(ref, "", earliest, today), h.headers(""), 200, "", ""},
		{"2b transactions", "GET", accountURL(ref, "/transactions", earliest, today), h.headers(""), 200, "", ""},
		{"method", "POST", accountsURL(earliest, today), h.headers(openOrg), 405, "ACC-012", "method"},
		{"route", "GET", "/v2/nothing", h.headers(openOrg), 400, "ACC-001", "route"},
		{"cards", "GET", accountURL(ref, "/cards", earliest, today), h.headers(""), 400, "ACC-001", "endpoint-not-in-service"},
		{"expired token", "GET", accountsURL(earliest, today), expired, 401, "ACC-010", "token:expired"},
		{"wrong scope", "GET", accountsURL(earliest, today), wrongScope, 403, "ACC-011", "token:scope"},
		{"bad PartyID", "GET", accountsURL(earliest, today), h.headers("123"), 400, "ACC-001", "param:PartyID"},
		{"not bankrupt", "GET", accountsURL(earliest, today), h.headers(annulledOrg), 403, "ACC-011", "not-bankrupt:annulled"},
		{"outside window", "GET", accountsURL("2010-01-01", today), h.headers(openOrg), 400, "ACC-001", "window"},
		{"unknown account", "GET", accountURL("nope", "", earliest, today), h.headers(""), 404, "ACC-002", "account-not-found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(h.audit.Records())
			c.hd.Set("AdditionalReferenceID", "ref-1")
			c.hd.Set("RequesterID", "saksbehandler-7")
			rec := h.do(c.method, c.target, c.hd)
			require.Equal(t, c.status, rec.Code, rec.Body.String())
			r := h.lastRecord(before)
			require.Equal(t, c.status, r.Status)
			require.Equal(t, c.code, r.Code)
			require.Equal(t, c.reason, r.Reason)
			require.Equal(t, c.method, r.Method)
			require.Equal(t, "d4a820ca-ddde-11ed-b5ea-0242ac120002", r.AccountInfoRequestID)
			require.Equal(t, "14fbc062-aacb-4449-93c1-85c352d387a4", r.CorrelationID)
			require.Len(t, r.Hash, 64)
			if audit.KindOf(r) == audit.KindUnauthenticated {
				// Refused before a valid token: anyone's call, recorded in its compact form
				// (issue #25): the request line, the ids, the outcome; nothing else the caller chose.
				require.LessOrEqual(t, len(r.Raw), audit.MaxCompactRecord, string(r.Raw))
				require.Empty(t, r.AdditionalReferenceID)
				require.Empty(t, r.LegalMandate)
				require.Equal(t, "192.0.2.1", r.Client, "the caller's address")
				return
			}
			require.Equal(t, "ref-1", r.AdditionalReferenceID)
			require.Equal(t, "saksbehandler-7", r.RequesterID)
			require.Equal(t, "kkl. §156 (3) og (4), jf. kkfor.§21", r.LegalMandate, "the decoded mandate")
			if c.status == 200 {
				require.Equal(t, "0192:974760673", r.Consumer)
				require.NotEmpty(t, r.TokenJTI)
				require.NotEmpty(t, r.ClientID)
				require.Equal(t, openOrg, r.PartyID)
				require.Equal(t, "a2141fbb-812e-4550-8cc3-2a907a841261", r.NoticeUUID)
				require.Equal(t, "2018-06-08", r.Kjennelsesdato)
				require.Equal(t, earliest, r.FromDate)
				require.Equal(t, today, r.ToDate)
				require.Equal(t, audit.BodyHash(rec.Body.Bytes()), r.BodySHA256, "hash of the exact body delivered")
				require.NotEmpty(t, r.Fields)
				require.Contains(t, r.Fields, "responseDetails.status")
			} else {
				require.Empty(t, r.BodySHA256)
				require.Empty(t, r.Fields)
			}
		})
	}
	rep, err := audit.Verify(context.Background(), h.audit, audit.NewSigner([]byte("x")))
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
}

func TestAudit_CountsAndReferencesOfDeliveredData(t *testing.T) {
	h := newHarness(t)
	n := len(h.audit.Records())
	h.do("GET", accountsURL(earliest, today), h.headers(openOrg))
	r := h.lastRecord(n)
	require.Equal(t, 2, *r.Accounts)
	require.Equal(t, "true", r.OnlyPrimaryOwner)
	ref := h.ref(pagingAccount)
	h.do("GET", accountURL(ref, "/transactions", earliest, today), h.headers(""))
	r = h.lastRecord(n + 1)
	require.Equal(t, 1000, *r.Transactions)
	require.Equal(t, ref, r.AccountReference)
	require.Equal(t, guarantor, r.PartyID, "the party resolved from the accountReference")
}

// A failing audit store turns a would-be 200 into 503 ACC-100 (Retry-After) with no account data.
func TestAudit_FailingStoreWithholdsTheAnswer(t *testing.T) {
	h := newHarness(t)
	h.audit.Fail = errors.New("disk full")
	for _, target := range []string{accountsURL(earliest, today), accountURL(h.ref(pagingAccount), "/transactions", earliest, today)} {
		rec := h.do("GET", target, h.headers(openOrg))
		requireProblem(t, rec, 503, "ACC-100")
		require.Equal(t, "1", rec.Header().Get("Retry-After"))
	}
	// Refusals too: nothing is answered unrecorded.
	requireProblem(t, h.do("POST", accountsURL(earliest, today), h.headers(openOrg)), 503, "ACC-100")
}

// panickingAudit is an audit store with a bug: every append panics.
type panickingAudit struct{ audit.Store }

func (panickingAudit) Append(context.Context, *audit.Record) error { panic("bug in the audit store") }

// A panic in the audit store is an audit write that failed: 503 ACC-100 and nothing of the
// answer, for a refusal and a clear answer (the record written in the request's goroutine) as
// for an encrypted one (written beside the encryption) — never a dropped connection.
func TestAudit_PanickingStoreWithholdsTheAnswer(t *testing.T) {
	for _, mode := range []func(*httpapi.Deps){func(*httpapi.Deps) {}, production} {
		h := newHarness(t, mode, func(d *httpapi.Deps) { d.Audit = panickingAudit{d.Audit} })
		for _, c := range []struct{ method, target string }{
			{"GET", accountsURL(earliest, today)},
			{"GET", accountURL(h.ref(pagingAccount), "/transactions", earliest, today)},
			{"POST", accountsURL(earliest, today)}, // refused before anything is read
		} {
			rec := h.do(c.method, c.target, withAccept(h.headers(openOrg), "application/json"))
			requireProblem(t, rec, 503, "ACC-100")
			require.NotContains(t, rec.Body.String(), "responseDetails")
		}
	}
}

type panicGate struct{}

func (panicGate) Check(context.Context, string) (konkursvarsel.DebtorState, error) {
	panic("bug in the gate")
}

func (panicGate) CheckNotices(context.Context, string, []konkursvarsel.Notice) (konkursvarsel.DebtorState, error) {
	panic("bug in the gate")
}

func TestAudit_PanicIsAnsweredAndRecorded(t *testing.T) {
	h := newHarness(t, func(d *httpapi.Deps) {
		d.Decide = &konkursbehandling.Decider{Bankruptcies: panicGate{}, Accounts: d.Accounts.Store}
	})
	rec := h.do("GET", accountsURL(earliest, today), h.headers(openOrg))
	requireProblem(t, rec, 500, "ACC-100")
	r := h.lastRecord(0)
	require.Equal(t, 500, r.Status)
	require.Equal(t, "ACC-100", r.Code)
	require.Equal(t, "internal", r.Reason)
}

// The audit record holds the request as received: the router's normalisation (trailing slash,
// the prose spelling onlyPrimaryOwner) happens on a copy.
func TestAudit_RecordsTheRequestAsReceived(t *testing.T) {
	h := newHarness(t)
	target := "/v2/accounts/?onlyPrimaryOwner=TRUE&fromDate=" + earliest + "&toDate=" + today
	rec := h.do("GET", target, h.headers(openOrg))
	require.Equal(t, 200, rec.Code, rec.Body.String())
	r := h.lastRecord(0)
	require.Equal(t, "/v2/accounts/", r.Path, "the path as sent, trailing slash included")
	require.Equal(t, "TRUE", r.OnlyPrimaryOwner, "the value as sent, under the spelling it was sent with")
	require.Equal(t, "listAccounts", r.Operation)

	rec = h.do("GET", "/v2/accounts/%2e%2e/x%0Ay?fromDate=a", h.headers(openOrg))
	require.Equal(t, 400, rec.Code)
	require.Equal(t, "/v2/accounts/%2e%2e/x%0Ay", h.lastRecord(1).Path, "percent-encoding is kept, so control characters never reach the log raw")
}

// The delivery spells of every delivered account are in the record, so an auditor can see which
// part of an account that changed hands was handed out.
func TestAudit_RecordsTheDeliverySpells(t *testing.T) {
	h := newHarnessWith(t, bankWorld{extra: changingHands()})
	rec := h.do("GET", accountURL(h.ref(endedAccount), "/transactions", clipFrom, today), h.headers(""))
	require.Equal(t, 200, rec.Code, rec.Body.String())
	r := h.lastRecord(0)
	require.Equal(t, []string{h.ref(endedAccount) + " " + clipFrom + "/2026-11-02"}, r.Spells)
	require.Equal(t, openOrg, r.PartyID)
}

// A call refused because the bankruptcy was annulled records the notice in force at the time of
// the call — the sletting — not the opening it ended (issue #26, finding 8); an open bankruptcy
// records its opening, with the account numbers the answer concerned.
func TestAudit_RecordsTheNoticeInForceAndTheAccountNumbers(t *testing.T) {
	h := newHarness(t)
	before := len(h.audit.Records())
	rec := h.do("GET", accountsURL(earliest, today), h.headers(annulledOrg))
	require.Equal(t, 403, rec.Code)
	r := h.lastRecord(before)
	require.Equal(t, "not-bankrupt:annulled", r.Reason)
	require.Equal(t, "sletting", r.NoticeType)
	require.Equal(t, "f85ba68a-9b47-4328-aec9-e1411a0bff1f", r.NoticeUUID, "the annulment, not the opening f5d61b1c-…")

	before = len(h.audit.Records())
	rec = h.do("GET", accountsURL(earliest, today), h.headers(openOrg))
	require.Equal(t, 200, rec.Code)
	r = h.lastRecord(before)
	require.Equal(t, "aapning", r.NoticeType)
	require.Equal(t, "a2141fbb-812e-4550-8cc3-2a907a841261", r.NoticeUUID)
	require.NotEmpty(t, r.AccountNumbers)
	require.Equal(t, "konkursbehandling", r.Service)
	require.Equal(t, "192.0.2.1", r.Client)
}
