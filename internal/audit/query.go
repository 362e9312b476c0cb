package audit

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"
)

// The query interface (docs/compliance.md "Audit log", queries): what the console and the CLI ask of the log.
// Every answer is a page — at most Limit records, and at most MaxScan records examined — with a
// keyset cursor to continue, so that a question costs what its answer costs, not what the log
// weighs. Each store answers from its indexes: PostgreSQL from B-tree indexes (migration 0006),
// the file store from a sorted index file per segment (fileindex.go), the memory store by
// filtering (it is the reference the others are tested against, audittest).

// Kind says what a record stands for.
type Kind string

// Kinds of records.
const (
	// KindCall is a call of the API by an authenticated, allowed consumer: the calls that make a
	// case.
	KindCall Kind = "call"
	// KindUnauthenticated is a call refused before a valid token of an allowed consumer: anyone
	// can send a case's id, so such calls are listed apart and never counted into a case.
	KindUnauthenticated Kind = "unauthenticated"
	// KindAccess is the bank's own access to the log: console views, reveals, verifications, the
	// CLI's reveals.
	KindAccess Kind = "access"
)

// KindOf classifies a record (the PostgreSQL column audit_records.kind states the same rule in
// SQL, migration 0006; the store suite checks that they agree).
func KindOf(r Record) Kind {
	switch {
	case strings.HasPrefix(r.Operation, "console.") || strings.HasPrefix(r.Operation, "audit."):
		return KindAccess
	case r.Consumer == "" || strings.HasPrefix(r.Reason, "token:"):
		return KindUnauthenticated
	}
	return KindCall
}

// Outcome filters by whether the answer was given.
type Outcome string

// Outcomes.
const (
	OutcomeAllowed Outcome = "allowed" // status 2xx
	OutcomeRefused Outcome = "refused" // any other status
)

// Query selects records. Empty fields match everything.
type Query struct {
	Case        string // AccountInfoRequestID, exactly
	Party       string // PartyID (2a) or the owner resolved from the accountReference (2b)
	Consumer    string // consumer.ID of the token ("0192:" + organisation number)
	Service     string // the DSOP service, e.g. konkursbehandling
	Client      string // the caller's network address
	Correlation string // CorrelationID
	Operation   string // e.g. listAccounts, console.verify
	Reason      string // refusal reason, exactly (window, token:expired, …)
	Kind        Kind
	Outcome     Outcome
	Status      int
	// From and Until bound Time: From ≤ Time < Until.
	From, Until time.Time
	// Keyset: newest first (the default) returns records with Seq < Before (0 = from the newest);
	// Oldest returns records with Seq > After in ascending order.
	Before, After uint64
	Oldest        bool
	// Limit is the page size (default DefaultLimit, at most MaxLimit).
	Limit int
	// MaxScan bounds the records a store examines for one page (default DefaultMaxScan): a page
	// may come back short, with Next set, when the filters match rarely.
	MaxScan int
}

// Page sizes.
const (
	DefaultLimit   = 50
	MaxLimit       = 1000
	DefaultMaxScan = 20000
)

// Page is one page of a query.
type Page struct {
	Records []Record
	// Next continues the query (as Before, or After when Oldest); 0 when nothing is left.
	Next uint64
}

// Querier answers queries from a store's indexes.
type Querier interface {
	Query(ctx context.Context, q Query) (Page, error)
	// Count calls fn once for every key of grouping q.By that more than q.Over records of
	// q.Since or later carry, in an order of the store's choosing (its index order), with memory
	// independent of the log's size.
	Count(ctx context.Context, q CountQuery, fn func(key string, n int) error) error
}

// CountQuery is what Count groups.
type CountQuery struct {
	By    CountBy
	Over  int
	Since time.Time // zero: the whole log
}

// CountBy names what Count groups by.
type CountBy string

// Groupings Count supports (the anomalies of internal/compliance).
const (
	CountCase          CountBy = "case"           // calls (KindCall) per AccountInfoRequestID
	CountParty         CountBy = "party"          // calls (KindCall) per party
	CountTokenFailures CountBy = "token-failures" // token refusals per client address
)

// countKey is the key a record counts under for by, or "" when it does not count.
func countKey(by CountBy, r Record) string {
	switch by {
	case CountCase:
		if KindOf(r) == KindCall {
			return r.AccountInfoRequestID
		}
	case CountParty:
		if KindOf(r) == KindCall {
			return r.PartyID
		}
	case CountTokenFailures:
		if strings.HasPrefix(r.Reason, "token:") {
			return clientKey(r.Client)
		}
	}
	return ""
}

// clientKey names a client address in counts; records written before v2 have none.
func clientKey(c string) string {
	if c == "" {
		return "(address not recorded)"
	}
	return c
}

// normalized fills the defaults and bounds.
func (q Query) normalized() Query {
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	q.Limit = min(q.Limit, MaxLimit)
	if q.MaxScan <= 0 {
		q.MaxScan = DefaultMaxScan
	}
	q.MaxScan = max(q.MaxScan, q.Limit)
	return q
}

// Match reports whether r meets every filter of q except the keyset: the one statement of what
// each filter means (PostgreSQL states it in SQL, postgres/audit_query.go; the store suite checks
// they agree).
func (q Query) Match(r Record) bool {
	eq := func(want, got string) bool { return want == "" || want == got }
	if !eq(q.Case, r.AccountInfoRequestID) || !eq(q.Party, r.PartyID) || !eq(q.Consumer, r.Consumer) ||
		!eq(q.Service, r.Service) || !eq(q.Client, r.Client) || !eq(q.Correlation, r.CorrelationID) ||
		!eq(q.Operation, r.Operation) || !eq(q.Reason, r.Reason) {
		return false
	}
	if q.Kind != "" && KindOf(r) != q.Kind {
		return false
	}
	allowed := r.Status >= 200 && r.Status < 300
	switch {
	case q.Outcome == OutcomeAllowed && !allowed, q.Outcome == OutcomeRefused && allowed:
		return false
	case q.Status != 0 && r.Status != q.Status:
		return false
	case !q.From.IsZero() && r.Time.Before(q.From), !q.Until.IsZero() && !r.Time.Before(q.Until):
		return false
	}
	return true
}

// inKeyset reports whether seq is past the cursor of q.
func (q Query) inKeyset(seq uint64) bool {
	if q.Oldest {
		return seq > q.After
	}
	return q.Before == 0 || seq < q.Before
}

// queryOrdered answers q over n records in Seq order, at(i) giving the i-th: the memory store's
// query, and the reference for the others.
func queryOrdered(ctx context.Context, q Query, n int, at func(i int) (Record, error)) (Page, error) {
	q = q.normalized()
	var p Page
	scanned := 0
	step, i := -1, n-1
	if q.Oldest {
		step, i = 1, 0
	}
	for ; i >= 0 && i < n; i += step {
		if err := ctx.Err(); err != nil {
			return Page{}, err
		}
		r, err := at(i)
		if err != nil {
			return Page{}, err
		}
		if !q.inKeyset(r.Seq) {
			continue
		}
		if len(p.Records) == q.Limit || scanned == q.MaxScan {
			p.Next = p.cursor(q, r.Seq)
			return p, nil
		}
		scanned++
		if q.Match(r) {
			p.Records = append(p.Records, r)
		}
	}
	return p, nil
}

// cursor is where the next page starts, given that the record seq has not been examined.
func (p Page) cursor(q Query, seq uint64) uint64 {
	if q.Oldest {
		return seq - 1 // After: seq itself comes next
	}
	return seq + 1 // Before: seq itself comes next
}

// countSorted counts with a map: the memory store's Count (its records are in memory anyway).
func countSorted(ctx context.Context, q CountQuery, each func(yield func(Record) error) error, fn func(string, int) error) error {
	counts := map[string]int{}
	if err := each(func(r Record) error {
		if r.Time.Before(q.Since) {
			return ctx.Err()
		}
		if k := countKey(q.By, r); k != "" {
			counts[k]++
		}
		return ctx.Err()
	}); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		if counts[k] > q.Over {
			if err := fn(k, counts[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Each calls fn for every record that matches q, a page at a time, until fn returns an error or
// the records run out: the CLI's streaming reads (memory bounded by one page).
func Each(ctx context.Context, st Querier, q Query, fn func(Record) error) error {
	for {
		p, err := st.Query(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range p.Records {
			if err := fn(r); err != nil {
				return err
			}
		}
		if p.Next == 0 {
			return nil
		}
		if q.Oldest {
			q.After = p.Next
		} else {
			q.Before = p.Next
		}
	}
}
