package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

// only GET.
func TestRouting_RefusesEveryMethodButGETWith405(t *testing.T) {
	h := newHarness(t)
	ref := h.ref(demoAccount(t, openOrg, dsop.BusinessAccount))
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, "PROPFIND"} {
		for _, target := range []string{accountsURL(earliest, today), accountURL(ref, "", earliest, today), "/v2/unknown"} {
			t.Run(method+" "+target, func(t *testing.T) {
				rec := h.do(method, target, h.headers(openOrg))
				requireProblem(t, rec, http.StatusMethodNotAllowed, "ACC-012")
			})
		}
	}
}

// Cards and Roles are not part of Konkursbehandling.
func TestRouting_CardsAndRolesAreRefusedWith400(t *testing.T) {
	h := newHarness(t)
	ref := h.ref(demoAccount(t, openOrg, dsop.BusinessAccount))
	for _, ep := range []string{"cards", "roles"} {
		t.Run(ep, func(t *testing.T) {
			rec := h.do(http.MethodGet, accountURL(ref, "/"+ep, earliest, today), h.headers(""))
			p := requireProblem(t, rec, http.StatusBadRequest, "ACC-001")
			require.Contains(t, p.Message, "not part of the DSOP service Konkursbehandling")
			// Even without any other header: the endpoint itself is the error.
			hd := http.Header{"Authorization": h.headers("")["Authorization"]}
			requireProblem(t, h.do(http.MethodGet, "/v2/accounts/"+ref+"/"+ep, hd), http.StatusBadRequest, "ACC-001")
		})
	}
}

func TestRouting_CardsNeedAValidTokenFirst(t *testing.T) {
	h := newHarness(t)
	requireProblem(t, h.do(http.MethodGet, "/v2/accounts/x/cards", http.Header{}), http.StatusUnauthorized, "ACC-010")
}

func TestRouting_UnknownPathsAre400(t *testing.T) {
	h := newHarness(t)
	for _, target := range []string{"/", "/v1/accounts", "/v2/foo", "/v2/accounts/x/y", "/v2/accounts/x/transactions/y", "/accounts"} {
		t.Run(target, func(t *testing.T) {
			requireProblem(t, h.do(http.MethodGet, target, h.headers(openOrg)), http.StatusBadRequest, "ACC-001")
		})
	}
}

// R-04 and HEAD mirroring GET.
func TestRouting_ServesTheThreeEndpoints(t *testing.T) {
	h := newHarness(t)
	ref := h.ref(demoAccount(t, openOrg, dsop.BusinessAccount))
	for _, target := range []string{accountsURL(earliest, today), strings.Replace(accountsURL(earliest, today), "accounts?", "accounts/?", 1), accountURL(ref, "", earliest, today), accountURL(ref, "/transactions", earliest, today)} {
		hd := h.headers(openOrg)
		require.Equal(t, http.StatusOK, h.do(http.MethodGet, target, hd).Code, target)
		require.Equal(t, http.StatusOK, h.do(http.MethodHead, target, hd).Code, target)
	}
}
