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
