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

// While a sync hangs on a slow Konkursvarsel, a second sync (the on-demand check of a request)
// gives up at its own deadline, and the status (/metrics, /readyz) is read without waiting
// (issue #29: 59 s behind a stuck sync; /metrics silent for 20 s).
func TestPoller_ASecondSyncWaitsNoLongerThanItsDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = w.Write([]byte(`{"_embedded":{"konkursvarsler":[]}}`))
	}))
	defer srv.Close()
	defer close(release)
	p := &Poller{Client: &Client{BaseURL: srv.URL, HTTP: srv.Client(), Attempts: 1}, Store: NewMemoryStore(), Outbox: &FileOutbox{Dir: t.TempDir()}}
	go func() { _, _ = p.Sync(context.Background()) }() // hangs until release
	require.Eventually(t, func() bool { return !p.Status().LastAttempt.IsZero() }, 5*time.Second, 5*time.Millisecond)

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := p.Sync(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 2*time.Second, "bounded by its deadline, not by the sync it waited for")

	done := make(chan struct{})
	go func() { p.Status(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Status waited for the running sync")
	}
}

type fakeBearer struct {
	issued, forgotten atomic.Int32
}

func (b *fakeBearer) Token(context.Context) (string, error) {
	return "tok-" + string(rune('0'+b.issued.Add(1))), nil
}
func (b *fakeBearer) Forget() { b.forgotten.Add(1) }

// With DSOP_KONKURSVARSEL_AUTH=maskinporten every request carries the bearer token and asks for
// JSON; a token the service refuses (401) is replaced once, and a second 401 is an error.
func TestClient_MaskinportenBearerIsSentAndRenewedOnce(t *testing.T) {
	var refuse atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "application/json", r.Header.Get("Accept"))
		if refuse.Load() > 0 {
			refuse.Add(-1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		require.Regexp(t, `^Bearer tok-\d$`, r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{"_embedded":{"konkursvarsler":[]},"_links":{}}`))
	}))
	defer srv.Close()
	b := &fakeBearer{}
	c := &Client{BaseURL: srv.URL, HTTP: srv.Client(), Bearer: b, Backoff: time.Millisecond}
	ctx := context.Background()
	_, err := c.Updated(ctx, time.Time{})
	require.NoError(t, err)

	refuse.Store(1)
	_, err = c.Updated(ctx, time.Time{})
	require.NoError(t, err, "one refused token is replaced")
	require.EqualValues(t, 1, b.forgotten.Load())

	refuse.Store(2)
	_, err = c.Updated(ctx, time.Time{})
	require.ErrorContains(t, err, "HTTP 401", "a new token refused too is an error, not a loop")
}
