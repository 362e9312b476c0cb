package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequest drives the whole handler with arbitrary paths, queries and header values behind a
// valid token: whatever arrives, the answer is a DSOP answer and never a 5xx.
func FuzzRequest(f *testing.F) {
	h := newHarness(f)
	tok := h.headers("").Get("Authorization")
	ref := h.ref(pagingAccount)
	f.Add("/v2/accounts", "OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate=2026-11-23", "910336819", mandate, "d4a820ca-ddde-11ed-b5ea-0242ac120002", "application/json")
	f.Add("/v2/accounts/"+ref+"/transactions", "fromDate=2017-06-08&toDate=2026-11-23&page=AAAA", "", mandate, "x", "*/*")
	f.Add("/v2/accounts/"+ref, "fromDate=2017-06-08&toDate=2026-11-23", "", "%ZZ", "", "")
	f.Add("/v2/accounts/%2F../cards", "a=%&b", "08086001471", "", "", "text/html")
	f.Add("/v2//accounts/", "onlyPrimaryOwner=TRUE&onlyPrimaryOwner=false", "0000000000", "kkl", "", "application/jose;q=0")
	f.Fuzz(func(t *testing.T, path, query, party, legal, id, accept string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(http.MethodGet, "http://bank"+path+"?"+query, nil)
		if err != nil {
			return // not a request an HTTP server could receive
		}
		for k, v := range map[string]string{"Authorization": tok, "PartyID": party, "Legal-Mandate": legal, "AccountInfoRequestID": id, "CorrelationID": id, "Accept": accept} {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s?%s → %d %s", path, query, rec.Code, rec.Body.String())
		}
		if rec.Code != 200 && rec.Code != 301 && !strings.Contains(rec.Body.String(), `"code":"ACC-`) {
			t.Fatalf("%s?%s → %d without a DSOP error body: %s", path, query, rec.Code, rec.Body.String())
		}
	})
}
