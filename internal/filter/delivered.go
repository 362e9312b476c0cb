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

	"github.com/dsop-bank/dsop-bank/internal/buffers"
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

// ParseFieldSet reads what String wrote. It takes the bytes a store returns as they are, so that
// reading a page costs no conversion per row (issue #15).
func ParseFieldSet[T ~string | ~[]byte](b T) (FieldSet, error) {
	if len(b) != 32 {
		return FieldSet{}, fmt.Errorf("field set: want 32 hex digits, have %d", len(b))
	}
	var hi, lo uint64 // the first 16 digits are the high word
	for i := range 16 {
		h, ok1 := hexDigit(b[i])
		l, ok2 := hexDigit(b[16+i])
		if !ok1 || !ok2 {
			return FieldSet{}, fmt.Errorf("field set %q: not 32 hex digits", string(b))
		}
		hi, lo = hi<<4|h, lo<<4|l
	}
	return FieldSet{lo, hi}, nil
}

func hexDigit(c byte) (uint64, bool) {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0'), true
	case 'a' <= c && c <= 'f':
		return uint64(c - 'a' + 10), true
	case 'A' <= c && c <= 'F':
		return uint64(c - 'A' + 10), true
	}
	return 0, false
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

// Splice collects a page's transactions in delivered form as a store reads them: their JSON
// joined in order behind room for the page's head, and the union of their field sets. A page is
// so copied once, from the store's buffer into the body (issue #15).
type Splice struct {
	buf   []byte
	rows  int // how many transactions the page may hold, for sizing
	set   FieldSet
	count int
	from  *buffers.Pool // where buf came from and goes back to (Release); nil: the collector
	spent []byte        // buf once TransactionsPage has made the body of it
}

// headRoom is the room kept in front of the transactions for the page's head (responseDetails
// and links), so that TransactionsPage puts the head in place instead of copying the page.
const headRoom = 2 << 10

// maxPresize is the most a page reserves before it has seen more than its first transaction.
const maxPresize = 4 << 20

// NewSplice returns an empty Splice for a page of at most rows transactions, made in memory of
// earlier pages from pool when it is not nil.
func NewSplice(rows int, pool *buffers.Pool) *Splice {
	s := &Splice{rows: max(rows, 1), from: pool}
	if b := pool.Get(headRoom); b != nil {
		s.buf = b[:headRoom]
	} else {
		s.buf = make([]byte, headRoom, headRoom+4<<10)
	}
	return s
}

// Release gives the page's memory back to the pool it came from. The caller must hold no
// reference to the body TransactionsPage made of it (nor to anything else of the page): the next
// page is written over it. Without Release the memory is left to the garbage collector.
func (s *Splice) Release() {
	if s.spent != nil {
		s.from.Put(s.spent)
	}
	s.from, s.spent = nil, nil
}

// Add appends one transaction in delivered form (the caller may reuse d.JSON afterwards). A form
// without JSON — the policy delivers none of that transaction — adds nothing.
func (s *Splice) Add(d Delivered) {
	if d.JSON == nil {
		return
	}
	need := len(d.JSON) + 1
	if s.count == 0 {
		// Size the page by its first transaction: room for a full page of about its size, with
		// some to spare, so that a page is one allocation (a short history reserves more than it
		// uses, once per request; an unusually large first transaction at most maxPresize).
		// A buffer from an earlier page is kept if a full page of about that size fits. Beyond
		// that, the page doubles.
		page := min(s.rows*need, maxPresize)
		if len(s.buf)+page > cap(s.buf) {
			need = max(need, min(page*3/2, maxPresize))
		}
	}
	if len(s.buf)+need > cap(s.buf) {
		s.buf = append(make([]byte, 0, max(2*cap(s.buf), len(s.buf)+need)), s.buf...)
	}
	if s.count > 0 {
		s.buf = append(s.buf, ',')
	}
	s.buf = append(s.buf, d.JSON...)
	s.set.Union(d.Fields)
	s.count++
}

// TransactionsPage is the body of a transactions page made of delivered forms: envelope (its
// Transactions are ignored) filtered as Apply would, with the transactions of s in order. It
// returns the body, the delivered fields as Apply lists them, and how many transactions it holds.
// The body is made in the buffer of s, which must not be used afterwards.
func (p *Policy) TransactionsPage(envelope dsop.Transactions, s *Splice) (body []byte, fields []string, count int, err error) {
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
	head = head[:len(head)-2] // up to and with the array's "["
	if n := len(head); n <= headRoom {
		body = s.buf[headRoom-n:]
		copy(body, head)
	} else { // a head longer than the room kept: copy the page once more
		body = append(append(make([]byte, 0, n+len(s.buf)-headRoom+2), head...), s.buf[headRoom:]...)
	}
	body = append(body, "]}"...)
	// The body is in buf (or, after a long head, in a copy): Release may give buf back.
	s.buf, s.spent = nil, s.buf[:cap(s.buf)]
	set := s.set
	for i, d := range delivered {
		if d || set.has(i) {
			fields = append(fields, p.rules[i].Path)
		}
	}
	sort.Strings(fields)
	return body, fields, s.count, nil
}
