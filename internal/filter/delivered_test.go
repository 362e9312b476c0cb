package filter_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/buffers"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/filter"
)

// policies are the field policies both paths are compared under: the default, every
// configurable field off, every one on, and one that makes required children drop their parents.
func policies(t *testing.T) map[string]*filter.Policy {
	rules, err := filter.Rules()
	require.NoError(t, err)
	var all, everywhere []string
	for _, r := range rules {
		if r.Configurable() {
			everywhere = append(everywhere, r.Endpoint+":"+r.Path)
			if r.Endpoint == filter.EndpointTransactions {
				all = append(all, r.Endpoint+":"+r.Path)
			}
		}
	}
	out := map[string]*filter.Policy{}
	for name, o := range map[string]filter.Overrides{
		"default":                   {},
		"all configurable omitted":  {Omit: all},
		"all configurable emitted":  {Emit: everywhere},
		"required children omitted": {Omit: []string{"transactions:transactions.references.value", "transactions:transactions.counterParties.type", "transactions:transactions.currencyExchange.sourceCurrency"}},
	} {
		p, err := filter.New(o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = p
	}
	return out
}

func demoTransactions(t *testing.T) []dsop.Transaction {
	bd, err := accounts.DecodeBankData(demo.BankData())
	require.NoError(t, err)
	var out []dsop.Transaction
	for _, a := range bd.Accounts {
		out = append(out, a.Transactions...)
	}
	require.Greater(t, len(out), 1000)
	return out
}

// The two ways a transactions page is made, decoded-filtered-encoded (Apply) and spliced from
// delivered forms (Deliver, TransactionsPage), give the same bytes and the same field list for
// every transaction of the demo bank under every policy.
func TestTransactionsPage_IsByteForByteWhatApplyGives(t *testing.T) {
	txs := demoTransactions(t)
	msg := "Data before 2025-01-01 are archived"
	long := strings.Repeat("A head longer than the room a splice keeps for it. ", 60)
	links := []dsop.Link{{Rel: "self", Href: "/accounts/r/transactions?fromDate=2025-01-01"}, {Rel: "next", Href: "/accounts/r/transactions?page=x&a=<b>"}}
	for name, p := range policies(t) {
		for _, tc := range []struct {
			n   int
			msg *string
		}{{0, &msg}, {1, &msg}, {7, &msg}, {len(txs), &msg}, {0, &long}, {7, &long}} {
			n := tc.n
			t.Run(fmt.Sprintf("%s/%d/head %d", name, n, len(*tc.msg)), func(t *testing.T) {
				envelope := dsop.Transactions{ResponseDetails: dsop.ResponseDetails{Status: dsop.Partial, Message: tc.msg}, Links: &links}
				page := envelope
				list := append([]dsop.Transaction(nil), txs[:n]...)
				page.Transactions = &list
				wantFields, err := p.Apply(filter.EndpointTransactions, &page)
				require.NoError(t, err)
				want, err := json.Marshal(&page)
				require.NoError(t, err)

				splice := filter.NewSplice(n, nil)
				for _, tr := range txs[:n] {
					d, err := p.Deliver(tr)
					require.NoError(t, err)
					splice.Add(d)
					for i := range d.JSON {
						d.JSON[i] = 'X' // a store reuses its buffer: the splice keeps a copy
					}
				}
				got, fields, count, err := p.TransactionsPage(envelope, splice)
				require.NoError(t, err)
				require.Equal(t, string(want), string(got))
				require.Equal(t, wantFields, fields)
				require.Equal(t, len(*page.Transactions), count)
			})
		}
	}
}

// Pages made in memory given back by earlier pages (a buffers.Pool) are still what Apply gives, whatever
// the sizes that follow each other — a short page after a long one, a long page after a short one
// (the buffer grows), a head longer than the room kept — and the memory is indeed reused: the
// released body of one page is overwritten by the next, which is why Release comes last.
func TestTransactionsPage_ReusedBuffersGiveTheSamePages(t *testing.T) {
	txs := demoTransactions(t)
	p, err := filter.New(filter.Overrides{})
	require.NoError(t, err)
	msg := "Data before 2025-01-01 are archived"
	long := strings.Repeat("A head longer than the room a splice keeps for it. ", 60)
	var pool buffers.Pool
	var last []byte // the body of the page released last
	reused := false
	for i, n := range []int{len(txs), 1, 7, len(txs), 0, 3, len(txs), 2, 5, len(txs), 1, 4, 6, 2, 3, len(txs), 1, 2, 7, 3} {
		head := &msg
		if i == 4 || i == 8 {
			head = &long
		}
		envelope := dsop.Transactions{ResponseDetails: dsop.ResponseDetails{Status: dsop.Partial, Message: head}}
		page := envelope
		list := append([]dsop.Transaction(nil), txs[len(txs)-n:]...)
		page.Transactions = &list
		_, err := p.Apply(filter.EndpointTransactions, &page)
		require.NoError(t, err)
		want, err := json.Marshal(&page)
		require.NoError(t, err)

		var before string
		if last != nil {
			before = string(last)
		}
		splice := filter.NewSplice(len(txs), &pool)
		for _, tr := range txs[len(txs)-n:] {
			d, err := p.Deliver(tr)
			require.NoError(t, err)
			splice.Add(d)
		}
		got, _, _, err := p.TransactionsPage(envelope, splice)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "page %d of %d transactions", i, n)
		if last != nil && string(last) != before {
			reused = true
		}
		last = got
		splice.Release()
		splice.Release() // a second Release gives nothing back twice
	}
	require.True(t, reused, "a later page is made in the memory of an earlier one")
}

// The stored forms cannot be mistaken across policies, and a field set survives its text form.
func TestFingerprint_DiffersWhenARuleDiffersAndFieldSetsRoundTrip(t *testing.T) {
	seen := map[string]string{}
	for name, p := range policies(t) {
		require.Len(t, p.Fingerprint(), 16)
		if other, ok := seen[p.Fingerprint()]; ok {
			t.Fatalf("%s and %s share a fingerprint", name, other)
		}
		seen[p.Fingerprint()] = name
	}
	again, err := filter.New(filter.Overrides{})
	require.NoError(t, err)
	require.Equal(t, policies(t)["default"].Fingerprint(), again.Fingerprint())

	d, err := again.Deliver(demoTransactions(t)[0])
	require.NoError(t, err)
	require.NotZero(t, d.Fields)
	back, err := filter.ParseFieldSet(d.Fields.String())
	require.NoError(t, err)
	require.Equal(t, d.Fields, back)
	_, err = filter.ParseFieldSet("not hex")
	require.Error(t, err)
}

// A field set is read back from the bytes a store returns exactly as it was written.
func TestParseFieldSet(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want filter.FieldSet
		err  bool
	}{
		{in: "00000000000000000000000000000000", want: filter.FieldSet{0, 0}},
		{in: "0000000000000001fedcba9876543210", want: filter.FieldSet{0xfedcba9876543210, 1}},
		{in: "8000000000000000000000000000000F", want: filter.FieldSet{0xf, 1 << 63}},
		{in: "ffffffffffffffffffffffffffffffff", want: filter.FieldSet{^uint64(0), ^uint64(0)}},
		{in: "0000000000000000000000000000000", err: true},   // 31 digits
		{in: "000000000000000000000000000000000", err: true}, // 33 digits
		{in: "0000000000000000000000000000000g", err: true},
		{in: "not hex", err: true},
	} {
		got, err := filter.ParseFieldSet([]byte(tc.in))
		if tc.err {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
		require.Equal(t, strings.ToLower(tc.in), got.String(), "String writes what ParseFieldSet reads")
	}
}

// Untrusted stored documents: whatever decodes as a transaction gives the same page both ways.
func FuzzDeliver(f *testing.F) {
	for _, tr := range []string{
		`{"transactionIdentifier":"t1","paymentCard":{"cardIdentifier":"4925 0000 1234 5678"}}`,
		`{"transactionIdentifier":"","references":[{"type":"x","value":""}],"merchant":"<&>"}`,
		`{"transactionIdentifier":"t","amount":"1.0","counterParties":[{"identifier":{"value":"1","type":"x"}}]}`,
	} {
		f.Add(tr)
	}
	p, err := filter.New(filter.Overrides{Omit: []string{"transactions:transactions.references.value"}})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, doc string) {
		var tr dsop.Transaction
		if json.Unmarshal([]byte(doc), &tr) != nil {
			return
		}
		page := dsop.Transactions{Transactions: &[]dsop.Transaction{tr}}
		wantFields, err := p.Apply(filter.EndpointTransactions, &page)
		require.NoError(t, err)
		want, err := json.Marshal(&page)
		require.NoError(t, err)
		d, err := p.Deliver(tr)
		require.NoError(t, err)
		splice := filter.NewSplice(1, nil)
		splice.Add(d)
		got, fields, _, err := p.TransactionsPage(dsop.Transactions{}, splice)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
		require.Equal(t, wantFields, fields)
	})
}
