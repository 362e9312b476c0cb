package konkursvarsel

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A page whose next link is itself (or an earlier page) stops the sync with an error after one
// read of each page, instead of requesting it without end (issue #29).
func TestClient_ANextLinkThatLoopsStopsTheSync(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		require.Equal(t, "application/json", r.Header.Get("Accept"))
		next := "/konkursvarsler?page=2"
		if r.URL.Query().Get("page") == "2" {
			next = "/konkursvarsler" // back to the first page
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"_embedded":{"konkursvarsler":[]},"_links":{"next":{"href":"` + next + `"}}}`))
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, HTTP: srv.Client()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Updated(ctx, time.Time{})
	require.ErrorContains(t, err, "loops back")
	require.EqualValues(t, 2, hits.Load(), "each page read once")
}
