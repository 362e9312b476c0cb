package filter

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"

	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

// The transactions path is the one that carries volume (a page is up to 1 000 transactions), so
// a store may keep every transaction in its delivered form: the bytes this policy gives it, with
// the fields it delivers. A page is then those bytes spliced into the envelope, with no decode
// or encode of the history (issue #15). The delivered form is made here, by the same plan that
// Apply walks, so the field rules stay stated once (delivery.csv and this package); a test proves
// that a spliced page is byte for byte what Apply and encoding/json give.

// deliveredVersion changes when the way a delivered form is made changes (the card mask, the
// JSON encoder) without a change of the rules, so that forms made before are not used.
const deliveredVersion = "delivered-form/1"

// FieldSet is a set of rules of the delivery tables (the fields a body delivers), as a bit per
// rule: the union of a page's sets is a few instructions per transaction.
type FieldSet [2]uint64

const maxRules = len(FieldSet{}) * 64

func (s *FieldSet) add(rule int)     { s[rule/64] |= 1 << (rule % 64) }
func (s FieldSet) has(rule int) bool { return s[rule/64]&(1<<(rule%64)) != 0 }

// Union adds o to s.
func (s *FieldSet) Union(o FieldSet) { s[0] |= o[0]; s[1] |= o[1] }

// String is the set as 32 hex digits, the form a store keeps.
func (s FieldSet) String() string { return fmt.Sprintf("%016x%016x", s[1], s[0]) }

// ParseFieldSet reads what String wrote.
func ParseFieldSet(b string) (FieldSet, error) {
	var s FieldSet
	if len(b) != 32 {
		return s, fmt.Errorf("field set: want 32 hex digits, have %d", len(b))
	}
	hi, err1 := strconv.ParseUint(b[:16], 16, 64)
	lo, err2 := strconv.ParseUint(b[16:], 16, 64)
	if err := errors.Join(err1, err2); err != nil {
		return s, fmt.Errorf("field set %q: %w", b, err)
	}
	return FieldSet{lo, hi}, nil
}

// Delivered is one transaction in its delivered form. JSON is nil when the policy delivers none
// of it (a schema-required field had to be omitted): it keeps its place in the paging order but
// never leaves.
type Delivered struct {
	JSON   []byte
	Fields FieldSet
}

// Fingerprint identifies the resolved rules and the way delivered forms are made: a store that
// kept delivered forms made under another fingerprint must not serve them.
func (p *Policy) Fingerprint() string { return p.fingerprint }

func fingerprint(rules []Rule) string {
	h := sha256.New()
	fmt.Fprintln(h, deliveredVersion)
	for _, r := range rules {
		fmt.Fprintf(h, "%s\t%s\t%t\n", r.Endpoint, r.Path, r.Emit)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// transactionPlan is the plan of one element of Transactions.transactions.
func (p *Policy) transactionPlan() *plan {
	for _, f := range p.plans[EndpointTransactions].fields {
		if f.child != nil && f.child.typ == reflect.TypeFor[dsop.Transaction]() {
			return f.child
		}
	}
	panic("filter: the transactions plan has no element plan") // New compiles it from the type
}

// Deliver returns t in its delivered form under this policy. t is not modified.
func (p *Policy) Deliver(t dsop.Transaction) (Delivered, error) {
	pl := p.transactionPlan()
	delivered := make([]bool, len(p.rules))
	if !pl.keep(reflect.ValueOf(&t).Elem(), delivered) {
		return Delivered{}, nil
	}
	b, err := json.Marshal(&t)
	if err != nil {
		return Delivered{}, fmt.Errorf("transaction %s: %w", t.TransactionIdentifier, err)
	}
	var out Delivered
	out.JSON = b
	for i, d := range delivered {
		if d {
			out.Fields.add(i)
		}
	}
	return out, nil
}

// TransactionsPage is the body of a transactions page made of delivered forms: envelope (its
// Transactions are ignored) filtered as Apply would, with the delivered transactions in order.
// It returns the body, the delivered fields as Apply lists them, and how many transactions it
// holds.
func (p *Policy) TransactionsPage(envelope dsop.Transactions, items []Delivered) (body []byte, fields []string, count int, err error) {
	empty := []dsop.Transaction{}
	envelope.Transactions = &empty
	delivered := make([]bool, len(p.rules))
	p.plans[EndpointTransactions].apply(reflect.ValueOf(&envelope).Elem(), delivered)
	head, err := json.Marshal(&envelope)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("transactions page: %w", err)
	}
	// Transactions is the last field of the envelope, so its empty array closes the document.
	const tail = `"transactions":[]}`
	if !bytes.HasSuffix(head, []byte(tail)) {
		return nil, nil, 0, errors.New("transactions page: the envelope does not end with its transactions")
	}
	size := len(head) + len(items)
	for _, it := range items {
		size += len(it.JSON)
	}
	body = make([]byte, 0, size)
	body = append(body, head[:len(head)-2]...)
	var set FieldSet
	for _, it := range items {
		if it.JSON == nil {
			continue
		}
		if count > 0 {
			body = append(body, ',')
		}
		body = append(body, it.JSON...)
		set.Union(it.Fields)
		count++
	}
	body = append(body, "]}"...)
	for i, d := range delivered {
		if d || set.has(i) {
			fields = append(fields, p.rules[i].Path)
		}
	}
	sort.Strings(fields)
	return body, fields, count, nil
}
