package bankcore

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/accounts/accountstest"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

var testRefs = accounts.NewSealedReferencer([]byte("0123456789abcdef0123456789abcdef"))

func newClient(t *testing.T, url string, o Options) *Client {
	t.Helper()
	o.URL, o.Refs = url, testRefs
	c, err := New(o)
	require.NoError(t, err)
	return c
}

// The connector passes the suite every store passes, against the mock core.
func TestClient_Suite(t *testing.T) {
	accountstest.Run(t, func(t *testing.T, bd *accounts.BankData, _ accounts.Referencer) accounts.Store {
		srv := httptest.NewServer(NewMock(bd).Handler())
		t.Cleanup(srv.Close)
		return newClient(t, srv.URL, Options{})
	})
}

// faulty is a core that misbehaves as told, in front of the mock.
type faulty struct {
	next  http.Handler
	mode  atomic.Value // "", "down", "slow", "garbage", "unknown-field", "disorder", "500"
	calls atomic.Int64
}

func (f *faulty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	mode, _ := f.mode.Load().(string)
	switch mode {
	case "down":
		w.WriteHeader(http.StatusServiceUnavailable)
	case "500":
		w.WriteHeader(http.StatusInternalServerError)
	case "slow":
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
		f.next.ServeHTTP(w, r)
	case "garbage":
		_, _ = w.Write([]byte("<html>maintenance</html>"))
	case "unknown-field":
		_, _ = w.Write([]byte(`{"accounts": [], "extra": 1}`))
	case "disorder": // the first two transactions of a page swapped
		rec := httptest.NewRecorder()
		f.next.ServeHTTP(rec, r)
		var page struct {
			Transactions []json.RawMessage `json:"transactions"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &page) != nil || len(page.Transactions) < 2 {
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		page.Transactions[0], page.Transactions[1] = page.Transactions[1], page.Transactions[0]
		_ = json.NewEncoder(w).Encode(page)
	default:
		f.next.ServeHTTP(w, r)
	}
}

func TestClient_EveryFaultOfTheCoreIsASourceError(t *testing.T) {
	bd := accountstest.Data(t)
	f := &faulty{next: NewMock(bd).Handler()}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newClient(t, srv.URL, Options{Timeout: 200 * time.Millisecond, Tries: 2, BreakAfter: 1000})
	ref := testRefs.Reference("15030000006")
	page := func(ctx context.Context) error {
		return c.Transactions(ctx, ref, time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), nil, 10, func(dsop.Transaction) error { return nil })
	}
	list := func(ctx context.Context) error { _, err := c.AccountsWithRole(ctx, "20020101351"); return err }
	for _, tc := range []struct {
		mode, reason string
		call         func(context.Context) error
		tries        int64
	}{
		{"down", "down", list, 2},
		{"slow", "timeout", list, 2},
		{"500", "status", list, 1},
		{"garbage", "garbage", list, 1},
		{"unknown-field", "garbage", list, 1},
		{"disorder", "garbage", page, 1},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			f.mode.Store(tc.mode)
			f.calls.Store(0)
			err := tc.call(context.Background())
			var se *accounts.SourceError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.reason, se.Reason, err.Error())
			require.Equal(t, tc.tries, f.calls.Load(), "only what got no answer is tried again")

			f.mode.Store("")
			require.NoError(t, tc.call(context.Background()), "the same call succeeds against a healthy core")
		})
	}

	// Never past the request's deadline, whatever the tries.
	f.mode.Store("slow")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	c2 := newClient(t, srv.URL, Options{Timeout: 5 * time.Second, Tries: 10, BreakAfter: 1000})
	_, err := c2.AccountsWithRole(ctx, "20020101351")
	var se *accounts.SourceError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "timeout", se.Reason)
	require.Less(t, time.Since(began), 1500*time.Millisecond)
}

func TestClient_CircuitOpensAfterFailuresAndClosesWhenTheCoreIsBack(t *testing.T) {
	f := &faulty{next: NewMock(accountstest.Data(t)).Handler()}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newClient(t, srv.URL, Options{Tries: 1, BreakAfter: 3, OpenFor: 200 * time.Millisecond})
	f.mode.Store("down")
	for range 3 {
		_, _, err := c.Party(context.Background(), "910336819")
		require.Error(t, err)
	}
	calls := f.calls.Load()
	_, _, err := c.Party(context.Background(), "910336819")
	var se *accounts.SourceError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "circuit-open", se.Reason)
	require.Equal(t, calls, f.calls.Load(), "an open circuit does not call the core")

	f.mode.Store("")
	time.Sleep(250 * time.Millisecond)
	p, ok, err := c.Party(context.Background(), "910336819")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "910336819", p.ID)
}

// A reference not made with the server's key, or made for another server, leads nowhere.
func TestClient_ForeignReferenceIsNotFound(t *testing.T) {
	srv := httptest.NewServer(NewMock(accountstest.Data(t)).Handler())
	defer srv.Close()
	c := newClient(t, srv.URL, Options{})
	for _, ref := range []string{"nope", accountstest.Refs.Reference("15030000006"),
		accounts.NewSealedReferencer([]byte("another server's secret, 32 bytes")).Reference("15030000006")} {
		_, err := c.AccountByReference(context.Background(), ref)
		require.ErrorIs(t, err, accounts.ErrAccountNotFound, ref)
	}
	_, err := c.AccountByReference(context.Background(), testRefs.Reference("15030000006"))
	require.NoError(t, err)
}

// Each call names the DSOP request it is made for, so the core's log matches the audit log.
func TestClient_SendsTheRequestsCorrelationID(t *testing.T) {
	mock := NewMock(accountstest.Data(t)).Handler()
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("X-Request-ID"))
		mock.ServeHTTP(w, r)
	}))
	defer srv.Close()
	type key struct{}
	c := newClient(t, srv.URL, Options{RequestID: func(ctx context.Context) string { s, _ := ctx.Value(key{}).(string); return s }})
	_, _, err := c.Party(context.WithValue(context.Background(), key{}, "14fbc062-aacb-4449-93c1-85c352d387a4"), "910336819")
	require.NoError(t, err)
	require.Equal(t, "14fbc062-aacb-4449-93c1-85c352d387a4", got.Load())
}
