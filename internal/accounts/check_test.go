package accounts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/demo"
)

// checkText writes doc to a file and checks it as check-bank-data and import do.
func checkText(t *testing.T, doc string) []Problem {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bank.json")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	problems, _, err := CheckFile(path)
	require.NoError(t, err)
	return problems
}

func TestCheck_TheDemoBankHasNoProblem(t *testing.T) {
	b, err := io.ReadAll(demo.BankData())
	require.NoError(t, err)
	require.Empty(t, checkText(t, string(b)))
}

func TestCheck_CrossRecordRulesAreLocatedToo(t *testing.T) {
	doc := strings.Join([]string{
		`{"servicer": {"organisationNumber": "910336819"},`,
		` "parties": [{"id": "910336819"}],`,
		` "accounts": [{"accountNumber": "15035218545", "type": "salaryAccount", "currency": "NOK", "status": "enabled", "startDate": "2020-01-01", "balances": {},`,
		`   "roles": [{"partyId": "900308841", "role": "primaryOwner", "startDate": "2020-01-01"}]}]}`,
	}, "\n")
	problems := checkText(t, doc)
	require.Len(t, problems, 1, "%v", problems)
	require.Equal(t, "/accounts/0/roles/0/partyId", problems[0].Path)
	require.Equal(t, 4, problems[0].Line)
	require.Contains(t, problems[0].Message, "party is not in parties[]")
}

// twoCustomers is a bank with the bankrupt 910336819 (account 15035218545, no transactions) and
// a healthy customer 900308841 (account 15039279301, three transactions). {{A}} is where a test
// puts the first account's members.
const twoCustomers = `{"servicer": {"organisationNumber": "900293003", "name": "Demobanken ASA"},
 "parties": [{"id": "910336819", "name": "Fjelltopp Bygg AS"}, {"id": "900308841", "name": "Frisk Kunde AS"}],
 "accounts": [
  {{A}},
  {"accountNumber": "15039279301", "type": "businessAccount", "currency": "NOK", "status": "enabled", "startDate": "2015-01-01", "balances": {},
   "roles": [{"partyId": "900308841", "role": "primaryOwner", "startDate": "2015-01-01"}],
   "transactions": [{"transactionIdentifier": "frisk-1", "amount": 10, "creditDebitIndicator": "debit", "status": "booked", "bookingDate": "2026-01-02T10:00:00+01:00"},
                    {"transactionIdentifier": "frisk-2", "amount": 20, "creditDebitIndicator": "debit", "status": "booked", "bookingDate": "2026-01-03T10:00:00+01:00"},
                    {"transactionIdentifier": "frisk-3", "amount": 30, "creditDebitIndicator": "debit", "status": "booked", "bookingDate": "2026-01-04T10:00:00+01:00"}]}]}
`

const accountA = `{"accountNumber": "15035218545", "type": "businessAccount", "currency": "NOK", "status": "enabled", "startDate": "2015-01-01", "balances": {},
   "roles": [{"partyId": "910336819", "role": "primaryOwner", "startDate": "2015-01-01"}]}`

func withA(a string) string { return strings.Replace(twoCustomers, "{{A}}", a, 1) }

// hostileFiles are files that could be read more than one way (issue #28). Each must be refused
// by every reader, with the problem located.
func hostileFiles() map[string]struct{ doc, path, message string } {
	return map[string]struct{ doc, path, message string }{
		// The duplicated account number: the transactions would be filed under the first number
		// and the account under the last, and another customer's transactions delivered.
		"account number twice": {withA(`{"accountNumber": "15039279301", "type": "businessAccount", "currency": "NOK", "status": "enabled", "startDate": "2015-01-01", "balances": {},
   "transactions": [{"transactionIdentifier": "x-1", "amount": 1, "creditDebitIndicator": "debit", "status": "booked", "bookingDate": "2026-01-02T10:00:00+01:00"}],
   "roles": [{"partyId": "910336819", "role": "primaryOwner", "startDate": "2015-01-01"}], "accountNumber": "15035218545"}`), "/accounts/0/accountNumber", "given twice"},
		"transactions twice": {withA(strings.Replace(accountA, `"balances": {},`, `"balances": {}, "transactions": [], "transactions": [],`, 1)), "/accounts/0/transactions", "given twice"},
		"a key twice inside a transaction": {withA(strings.Replace(accountA, `"balances": {},`, `"balances": {}, "transactions": [{"transactionIdentifier": "a", "amount": 1, "amount": 2, "creditDebitIndicator": "debit", "status": "booked", "bookingDate": "2026-01-02T10:00:00+01:00"}],`, 1)),
			"/accounts/0/transactions/0/amount", "duplicate"},
		"a key twice in a party":      {strings.Replace(withA(accountA), `{"id": "910336819", "name": "Fjelltopp Bygg AS"}`, `{"id": "910336819", "id": "900308841"}`, 1), "/parties/0/id", "duplicate"},
		"a top-level member twice":    {strings.Replace(withA(accountA), `"parties": [`, `"parties": [], "parties": [`, 1), "/parties", "given twice"},
		"two documents":               {withA(accountA) + `{"servicer": {"organisationNumber": "900293003"}, "parties": [], "accounts": []}`, "", "data after the end of the document"},
		"anything after the document": {withA(accountA) + "x", "", "data after the end of the document"},
		"invalid UTF-8":               {strings.Replace(withA(accountA), "Frisk Kunde AS", "Frisk \xff Kunde AS", 1), "/parties/1/name", "invalid UTF-8"},
		"a lone surrogate":            {strings.Replace(withA(accountA), "Frisk Kunde AS", `Frisk \ud800 Kunde AS`, 1), "/parties/1/name", "surrogate"},
		"overlapping spells of one owner": {withA(strings.Replace(accountA, `"startDate": "2015-01-01"}]}`, `"startDate": "2015-01-01"}, {"partyId": "910336819", "role": "primaryOwner", "permission": "rightToUseAlone", "startDate": "2020-01-01", "endDate": "2020-12-31"}]}`, 1)),
			"/accounts/0/roles/1", "overlaps roles[0]"},
	}
}

func TestCheck_AFileReadableMoreThanOneWayIsRefused(t *testing.T) {
	require.Empty(t, checkText(t, withA(accountA)), "the file without the break passes, so each refusal below is the break's")
	for name, h := range hostileFiles() {
		t.Run(name, func(t *testing.T) {
			problems := checkText(t, h.doc)
			var found *Problem
			for i := range problems {
				if problems[i].Path == h.path && strings.Contains(problems[i].Message, h.message) {
					found = &problems[i]
				}
			}
			require.NotNil(t, found, "want %s: %q among %v", h.path, h.message, problems)
			require.Positive(t, found.Line)
			require.Positive(t, found.Column)
			// The in-memory store's reader refuses it too.
			_, err := DecodeBankData(strings.NewReader(h.doc))
			require.Error(t, err)
		})
	}
}

// No reader ever files one customer's transactions under another's account.
func TestDecode_TheDuplicatedAccountNumberNeverMovesATransaction(t *testing.T) {
	bd, err := DecodeBankData(strings.NewReader(withA(accountA)))
	require.NoError(t, err)
	for _, a := range bd.Accounts {
		for _, tr := range a.Transactions {
			require.Equal(t, "15039279301", a.AccountNumber, "transaction %s", tr.TransactionIdentifier)
		}
	}
	_, err = DecodeBankData(strings.NewReader(hostileFiles()["account number twice"].doc))
	require.ErrorContains(t, err, "given twice")
}

// Schema mistakes and cross-record mistakes of one file are all listed in one run.
func TestCheck_EveryKindOfProblemInOneRun(t *testing.T) {
	doc := withA(strings.Replace(strings.Replace(accountA, `"currency": "NOK"`, `"currency": "nok"`, 1), `"partyId": "910336819"`, `"partyId": "999999999"`, 1))
	doc = strings.Replace(doc, `"amount": 20,`, `"amount": 20, "amount": 21,`, 1)
	problems := checkText(t, doc)
	var paths []string
	for _, p := range problems {
		paths = append(paths, p.Path)
	}
	require.Contains(t, paths, "/accounts/0/currency", "a schema mistake")
	require.Contains(t, paths, "/accounts/0/roles/0/partyId", "a cross-record mistake")
	require.Contains(t, paths, "/accounts/1/transactions/1/amount", "a key twice")
}

// hugeString streams a document whose servicer name is n bytes long, without holding it.
type hugeString struct {
	n, sent int
	head    []byte
}

func (h *hugeString) Read(p []byte) (int, error) {
	if len(h.head) > 0 {
		k := copy(p, h.head)
		h.head = h.head[k:]
		return k, nil
	}
	if h.sent >= h.n {
		return 0, io.EOF
	}
	k := min(len(p), h.n-h.sent)
	copy(p, bytes.Repeat([]byte("a"), k))
	h.sent += k
	return k, nil
}

// An over-long value is refused while it streams past: memory grows with MaxElement, not with
// the value (issue #28: a 200 MiB string cost 1.3 GB).
func TestStream_AnOverlongValueIsRefusedWithBoundedMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	src := &hugeString{n: 200 << 20, head: []byte(`{"servicer": {"organisationNumber": "900293003", "name": "`)}
	err := Stream(src, func(Element) error { return nil })
	runtime.ReadMemStats(&after)
	var se *streamError
	require.True(t, errors.As(err, &se), "%v", err)
	require.Contains(t, err.Error(), fmt.Sprintf("more than %d bytes", MaxElement))
	require.Less(t, src.sent, 8*MaxElement, "refused while streaming, long before the value's end")
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(32*MaxElement), "memory bounded by the limit")
}

// Whatever the input, the reader never panics, and a file it hands on whole (no invalid element,
// no error) is one strictly valid JSON document: no duplicate names, valid UTF-8, nothing after.
func FuzzStream(f *testing.F) {
	f.Add(withA(accountA))
	for _, h := range hostileFiles() {
		f.Add(h.doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		invalid := false
		err := Stream(strings.NewReader(doc), func(e Element) error {
			invalid = invalid || e.Kind == "invalid"
			return nil
		})
		if err != nil || invalid {
			return
		}
		var strict struct{}
		require.NoError(t, jsonStrictDocument([]byte(doc), &strict), "accepted: %q", doc)
	})
}

func jsonStrictDocument(b []byte, _ any) error {
	d := jsontext.NewDecoder(bytes.NewReader(b))
	if _, err := d.ReadValue(); err != nil {
		return err
	}
	if _, err := d.ReadToken(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("data after the document: %v", err)
	}
	return nil
}
