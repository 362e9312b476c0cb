package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadyz_FlipsWithItsChecks(t *testing.T) {
	dbDown := false
	h := Handler(nil, []Check{{Name: "store", Func: func(context.Context) error {
		if dbDown {
			return errors.New("database unreachable")
		}
		return nil
	}}})
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	require.Equal(t, 200, get("/readyz").Code)
	dbDown = true
	rec := get("/readyz")
	require.Equal(t, 503, rec.Code)
	require.Contains(t, rec.Body.String(), "database unreachable")
	require.Equal(t, 200, get("/livez").Code, "alive even when not ready")
	dbDown = false
	require.Equal(t, 200, get("/readyz").Code)
}

// A live check that fails makes /livez 503, so that the orchestrator restarts the process; a
// readiness check that fails does not.
func TestLivez_FailsOnlyOnALiveCheck(t *testing.T) {
	broken := errors.New("fsync failed: the audit log takes nothing more until a restart")
	for _, live := range []bool{false, true} {
		h := Handler(http.NotFoundHandler(), []Check{{Name: "audit", Live: live, Func: func(context.Context) error { return broken }}})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/livez", nil))
		want := map[bool]int{false: 200, true: 503}[live]
		require.Equal(t, want, rec.Code, "live=%v", live)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		require.Equal(t, 503, rec.Code)
	}
}
