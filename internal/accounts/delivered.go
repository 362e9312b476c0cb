package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/filter"
)

// ErrNoDeliveredForms says a store holds no delivered forms made under the field policy asked
// for (none were made, or they were made under another policy): the page is built from the
// stored transactions instead.
var ErrNoDeliveredForms = errors.New("no delivered forms under this field policy")

// DeliveredStore is a Store that also keeps each transaction in its delivered form
// (filter.Policy.Deliver), made when the bank data was imported, so a page is read and spliced
// without decoding the history (issue #15). PostgreSQL implements it.
type DeliveredStore interface {
	// DeliveredTransactions is Transactions in delivered form, with each transaction's paging
	// position. It returns ErrNoDeliveredForms before calling fn when its forms were not made
	// under the policy with this fingerprint. The JSON fn is handed is valid only until fn
	// returns (it is the store's read buffer: fn copies what it keeps).
	DeliveredTransactions(ctx context.Context, ref string, from, until time.Time, after *Position, limit int, policy string, fn func(Position, filter.Delivered) error) error
}
