package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// P-01…P-14 of test-cases.md §3.3: each refusal is 400 ACC-001 with no account data.
func TestParams_Step2a(t *testing.T) {
	h := newHarness(t)
	valid := accountsURL(earliest, today)
	cases := []struct {
		name   string
		target string
		edit   func(http.Header)
		status int
	}{
		{"P-01 missing AccountInfoRequestID", valid, func(hd http.Header) { hd.Del("AccountInfoRequestID") }, 400},
		{"AccountInfoRequestID not a UUID", valid, func(hd http.Header) { hd.Set("AccountInfoRequestID", "case-42") }, 400},
		{"AccountInfoRequestID UUID without dashes", valid, func(hd http.Header) { hd.Set("AccountInfoRequestID", "d4a820caddde11edb5ea0242ac120002") }, 400},
		{"AccountInfoRequestID upper case", valid, func(hd http.Header) { hd.Set("AccountInfoRequestID", "D4A820CA-DDDE-11ED-B5EA-0242AC120002") }, 200},
		{"missing CorrelationID", valid, func(hd http.Header) { hd.Del("CorrelationID") }, 400},
		{"P-02 CorrelationID abc", valid, func(hd http.Header) { hd.Set("CorrelationID", "abc") }, 400},
		{"P-03 missing Legal-Mandate", valid, func(hd http.Header) { hd.Del("Legal-Mandate") }, 400},
		{"P-04 another service's mandate", valid, func(hd http.Header) { hd.Set("Legal-Mandate", "Skatteforvaltningsloven%20%C2%A7%2010-2") }, 400},
		{"mandate not decodable", valid, func(hd http.Header) { hd.Set("Legal-Mandate", "kkl.%2") }, 400},
		{"mandate with a plus for a space", valid, func(hd http.Header) { hd.Set("Legal-Mandate", strings.ReplaceAll(mandate, "%20", "+")) }, 400},
		{"P-05 exact mandate", valid, func(http.Header) {}, 200},
		{"P-06 parentheses percent-encoded", valid, func(hd http.Header) {
			hd.Set("Legal-Mandate", strings.NewReplacer("(", "%28", ")", "%29").Replace(mandate))
		}, 200},
		{"decoded mandate in UTF-8 (documented choice: accepted)", valid, func(hd http.Header) { hd.Set("Legal-Mandate", "kkl. §156 (3) og (4), jf. kkfor.§21") }, 200},
		{"P-07 missing PartyID", valid, func(hd http.Header) { hd.Del("PartyID") }, 400},
		{"P-08 PartyID bad check digit", valid, func(hd http.Header) { hd.Set("PartyID", "910336818") }, 400},
		{"P-08 PartyID wrong length", valid, func(hd http.Header) { hd.Set("PartyID", "91033681") }, 400},
		{"P-08 FNR bad check digit", valid, func(hd http.Header) { hd.Set("PartyID", "08086001472") }, 400},
		{"PartyID letters", valid, func(hd http.Header) { hd.Set("PartyID", "91033681X") }, 400},
		{"P-09 OnlyPrimaryOwner=false", strings.Replace(valid, "=true", "=false", 1), nil, 400},
		{"OnlyPrimaryOwner=yes", strings.Replace(valid, "=true", "=yes", 1), nil, 400},
		{"OnlyPrimaryOwner=1", strings.Replace(valid, "=true", "=1", 1), nil, 400},
		{"P-10 OnlyPrimaryOwner missing", strings.Replace(valid, "OnlyPrimaryOwner=true&", "", 1), nil, 400},
		{"P-11 OnlyPrimaryOwner=TRUE", strings.Replace(valid, "=true", "=TRUE", 1), nil, 200},
		{"P-11 onlyPrimaryOwner=true", strings.Replace(valid, "OnlyPrimaryOwner", "onlyPrimaryOwner", 1), nil, 200},
		{"P-12 optional references present", valid, func(hd http.Header) {
			hd.Set("AdditionalReferenceID", "x")
			hd.Set("AdditionalReferenceIDType", "srf")
			hd.Set("RequesterID", "saksbehandler-1")
		}, 200},
		{"P-13 fromDate missing", "/v2/accounts?OnlyPrimaryOwner=true&toDate=" + today, nil, 400},
		{"toDate missing", "/v2/accounts?OnlyPrimaryOwner=true&fromDate=" + earliest, nil, 400},
		{"P-14 fromDate 01.01.2024", accountsURL("01.01.2024", today), nil, 400},
		{"P-14 fromDate 2024-13-01", accountsURL("2024-13-01", today), nil, 400},
		{"fromDate 2024-02-30", accountsURL("2024-02-30", today), nil, 400},
		{"fromDate twice", accountsURL(earliest, today) + "&fromDate=2020-01-01", nil, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hd := h.headers(openOrg)
			if c.edit != nil {
				c.edit(hd)
			}
			rec := h.do(http.MethodGet, c.target, hd)
			if c.status == 200 {
				require.Equal(t, 200, rec.Code, rec.Body.String())
				return
			}
			requireProblem(t, rec, c.status, "ACC-001")
		})
	}
}

// The same header rules hold on the step 2b endpoints.
func TestParams_Step2bNeedsTheSameHeaders(t *testing.T) {
	h := newHarness(t)
	ref := h.ref(pagingAccount)
	for _, suffix := range []string{"", "/transactions"} {
		for _, del := range []string{"AccountInfoRequestID", "CorrelationID", "Legal-Mandate"} {
			hd := h.headers("")
			hd.Del(del)
			requireProblem(t, h.do(http.MethodGet, accountURL(ref, suffix, earliest, today), hd), 400, "ACC-001")
		}
		requireProblem(t, h.do(http.MethodGet, "/v2/accounts/"+ref+suffix+"?toDate="+today, h.headers("")), 400, "ACC-001")
	}
}

// Accept: 406 for formats the API does not offer (kontrollinformasjon-api.md §3.2).
func TestParams_AcceptNeitherJSONNorJOSEIs406(t *testing.T) {
	h := newHarness(t)
	for accept, status := range map[string]int{
		"application/xml":                 406,
		"text/html":                       406,
		"application/json;q=0":            406,
		"application/json":                200,
		"*/*":                             200,
		"application/*":                   200,
		"text/html, application/json":     200,
		"application/json; charset=utf-8": 200,
	} {
		hd := h.headers(openOrg)
		hd.Set("Accept", accept)
		rec := h.do(http.MethodGet, accountsURL(earliest, today), hd)
		if status == 406 {
			requireProblem(t, rec, 406, "ACC-013")
		} else {
			require.Equal(t, 200, rec.Code, accept)
		}
	}
}
