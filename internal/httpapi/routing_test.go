package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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

// Non-canonical spellings of our paths are refused with a DSOP error: ServeMux would redirect
// them (307, text/html, a Location echoing the query) after the token was accepted. Sent over a
// real connection with the request-target exactly as written.
func TestRouting_NonCanonicalPathsAre400NeverARedirect(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	q := "?OnlyPrimaryOwner=true&fromDate=" + earliest + "&toDate=" + today
	hd := h.headers(openOrg)
	for _, target := range []string{"//v2/accounts", "/v2//accounts", "/v2/./accounts", "/v2/x/../accounts", "/./v2/accounts", "/v2/accounts/.", "/v2/accounts//", "/v2/%2e/accounts", "/v2/accounts/%2e%2e/accounts"} {
		t.Run(target, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			var req strings.Builder
			fmt.Fprintf(&req, "GET %s%s HTTP/1.1\r\nHost: bank\r\nConnection: close\r\n", target, q)
			for k, vs := range hd {
				for _, v := range vs {
					fmt.Fprintf(&req, "%s: %s\r\n", k, v)
				}
			}
			req.WriteString("\r\n")
			_, err = io.WriteString(conn, req.String())
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", body)
			require.Empty(t, resp.Header.Get("Location"))
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			require.Contains(t, string(body), `"code":"ACC-001"`)
		})
	}
	// The canonical path itself is served on the same connection setup.
	require.Equal(t, http.StatusOK, h.do(http.MethodGet, "/v2/accounts"+q, hd).Code)
}
