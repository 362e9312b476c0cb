package httpapi_test

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

// What the real consumer's habits ask of references and cursors (kontrollinformasjon-api.md
// §7.2, issue #29): an egress proxy that decodes URLs twice, and references replayed in a later
// run against another instance of the bank's server.

var unreserved = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// A next link survives a proxy that decodes it twice: references and cursors are unreserved
// characters, so decoding changes nothing.
func TestPeers_ADoubleDecodingProxyChangesNoLink(t *testing.T) {
	h := newHarness(t)
	ref := h.ref(pagingAccount)
	require.Regexp(t, unreserved, ref)
	rec := h.do(http.MethodGet, accountURL(ref, "/transactions", earliest, today), h.headers(""))
	require.Equal(t, http.StatusOK, rec.Code)
	page := decode[dsop.Transactions](t, rec)
	var next string
	for _, l := range *page.Links {
		if l.Rel == "next" {
			next = follow(t, l.Href)
		}
	}
	require.NotEmpty(t, next, "the paging account has a second page")
	u, err := url.Parse(next)
	require.NoError(t, err)
	require.Regexp(t, unreserved, u.Query().Get("page"), "the cursor")
	twice := next
	for range 2 {
		if twice, err = url.PathUnescape(twice); err != nil {
			t.Fatal(err)
		}
	}
	once, again := h.do(http.MethodGet, next, h.headers("")), h.do(http.MethodGet, twice, h.headers(""))
	require.Equal(t, http.StatusOK, once.Code)
	require.Equal(t, http.StatusOK, again.Code, twice)
	require.Equal(t, once.Body.String(), again.Body.String())
}

// A reference a consumer kept from an earlier run is answered by another instance of the server
// with the same secret — a restart, another replica, a later day.
func TestPeers_AReferenceFromAnEarlierRunIsStillValid(t *testing.T) {
	first := newHarness(t)
	ref := first.ref(pagingAccount)
	later := newHarness(t)
	rec := later.do(http.MethodGet, accountURL(ref, "", earliest, today), later.headers(""))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = later.do(http.MethodGet, accountURL("AAAAAAAAAAAAAAAAAAAAAAAA", "", earliest, today), later.headers(""))
	requireProblem(t, rec, http.StatusNotFound, "ACC-002")
}
