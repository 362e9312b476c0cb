package bankcore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

// answer is a core that gives the same body to every call.
type answer []byte

func (a answer) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(bytes.NewReader(a)), Header: http.Header{}}, nil
}

// Whatever a core answers, every call ends in data that passed its checks or in a SourceError —
// never a panic, never another kind of failure that would be answered as something else.
func FuzzClient_CoreAnswer(f *testing.F) {
	for _, seed := range []string{
		`{"accounts": []}`, `{"transactions": []}`, `{"id": "910336819"}`, `{}`, `null`, `[]`, `{"accounts": [{}]}`,
		`{"transactions": [{"transactionIdentifier": "t", "status": "booked", "bookingDate": "2018-06-01T00:00:00Z", "amount": 1, "creditDebitIndicator": "debit"}]}`,
		`{"accounts": [{"accountNumber": "1", "type": "businessAccount", "currency": "NOK", "status": "enabled", "startDate": "2015-01-01", "roles": [], "balances": {}}]} x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := New(Options{URL: "http://core.test", HTTP: &http.Client{Transport: answer(body)}, Refs: testRefs, Tries: 1, BreakAfter: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		check := func(err error) {
			var se *accounts.SourceError
			if err != nil && !errors.As(err, &se) {
				t.Fatalf("%v is not a SourceError", err)
			}
		}
		_, err = c.AccountsWithRole(ctx, "910336819")
		check(err)
		_, _, err = c.Party(ctx, "910336819")
		check(err)
		_, err = c.AccountByReference(ctx, testRefs.Reference("15030000006"))
		check(err)
		from := time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC)
		check(c.Transactions(ctx, testRefs.Reference("15030000006"), from, from.AddDate(1, 0, 0), nil, 10, func(dsop.Transaction) error { return nil }))
	})
}
