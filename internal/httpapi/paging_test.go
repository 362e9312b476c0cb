package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

// consumerURL is how Digdir's plugin-banking builds a request (kontrollinformasjon-api.md §7):
// its base URL always ends in "/", and an href loses its leading "/" before it is appended.
func consumerURL(registeredBase, pathOrHref string) string {
	if !strings.HasSuffix(registeredBase, "/") {
		registeredBase += "/"
	}
	return registeredBase + strings.TrimPrefix(pathOrHref, "/")
}

// pageAsTheConsumer fetches every page of an account's transactions the consumer's way and
// returns the transaction ids.
func pageAsTheConsumer(t *testing.T, h *harness, client *http.Client, registeredBase, ref string) []string {
	t.Helper()
	url := consumerURL(registeredBase, "accounts/"+ref+"/transactions?fromDate="+earliest+"&toDate="+today)
	var ids []string
	for pages := 0; url != ""; pages++ {
		require.Less(t, pages, 10)
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		req.Header = h.headers("")
		resp, err := client.Do(req)
		require.NoError(t, err)
		var body dsop.Transactions
		require.Equal(t, 200, resp.StatusCode, url)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		resp.Body.Close()
		for _, tr := range *body.Transactions {
			ids = append(ids, tr.TransactionIdentifier)
		}
		url = ""
		for _, l := range *body.Links {
			if strings.EqualFold(l.Rel, "next") {
				require.True(t, strings.HasPrefix(l.Href, "/accounts/"), l.Href)
				url = consumerURL(registeredBase, l.Href)
			}
		}
	}
	return ids
}

// T-07: every page is reached, every transaction exactly once, with the registered base URL
// pointing straight at the server (/v2) or at a gateway path (/dsop/v2/) that the gateway strips.
func TestPaging_TheRealConsumerFollowsNextFromItsRegisteredBaseURL(t *testing.T) {
	h := newHarness(t)
	direct := httptest.NewServer(h.handler)
	defer direct.Close()
	gateway := httptest.NewServer(http.StripPrefix("/dsop", h.handler)) // https://api.bank.no/dsop/v2/… → /v2/…
	defer gateway.Close()
	for name, base := range map[string]string{
		"registered base URL without trailing slash": direct.URL + "/v2",
		"registered base URL with trailing slash":    direct.URL + "/v2/",
		"behind a gateway that strips /dsop":         gateway.URL + "/dsop/v2/",
	} {
		t.Run(name, func(t *testing.T) {
			ids := pageAsTheConsumer(t, h, direct.Client(), base, h.ref(pagingAccount))
			require.Len(t, ids, 2500)
			seen := map[string]bool{}
			for _, id := range ids {
				require.False(t, seen[id], "duplicate %s", id)
				seen[id] = true
			}
		})
	}
}
